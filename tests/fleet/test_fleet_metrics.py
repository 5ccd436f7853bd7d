"""The cluster's metric families render as Prometheus text, from a real component's stats."""
from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from honeyswitch.fleet.metrics import add, families
from honeyswitch.fleet.model import SwitchTarget


class _Collector:
    def __init__(self, stats: dict[str, Any]) -> None:
        self.stats = stats

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        yield from families(self.stats)


async def test_metrics_from_two_components(redis: Any, node: Any) -> None:
    a, fa = await node("a", redis.url())
    b, fb = await node("b", redis.url())
    b.open_session("m-1", "192.0.2.30")
    a.list_ip("192.0.2.31", "m")
    await fa.request_switch("b", SwitchTarget(session_id="m-1"), "operator", "")
    registry = CollectorRegistry()
    registry.register(_Collector(add([fa.stats(), fb.stats()])))
    text = generate_latest(registry).decode()
    assert "honeyswitch_cluster_up 1.0" in text
    assert "honeyswitch_cluster_reconnects_total 2.0" in text
    assert 'honeyswitch_cluster_switch_requests_total{direction="sent",status="switched"} 1.0' in text
    assert 'honeyswitch_cluster_switch_requests_total{direction="served",status="switched"} 1.0' in text
    assert "honeyswitch_cluster_published_total" in text
    assert list(families(None)) == []
