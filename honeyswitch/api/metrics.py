"""Prometheus metrics, from the daemon's own registry (never the process-global one).

Nothing is counted on the relay's hot path for them: each process keeps an
:class:`~honeyswitch.api.control.EventTally`, and a scrape asks the control side for a
snapshot (every worker's, added up) and turns it into metric families.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:
    from .control import Control

STATES = ("mirror", "main_only", "switching", "honeypot", "direct")


class Metrics:
    def __init__(self, control: Control) -> None:
        self.control = control
        self.registry = CollectorRegistry(auto_describe=True)
        self._collector = _Snapshot(control)
        self.registry.register(self._collector)

    async def render(self) -> bytes:
        self._collector.data = await self.control.metrics()
        try:
            return generate_latest(self.registry)
        finally:
            self._collector.data = {}


class _Snapshot:
    def __init__(self, control: Control) -> None:
        self.control = control
        self.data: dict[str, Any] = {}

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        data = self.data
        events = CounterMetricFamily("honeyswitch_events", "Events recorded, by type", labels=["event_type"])
        for kind, n in sorted((data.get("events") or {}).items()):
            events.add_metric([kind], n)
        yield events
        alerts = CounterMetricFamily("honeyswitch_alert_score", "Sum of alert scores, by detector",
                                     labels=["detector"])
        for detector, total in sorted((data.get("alert_scores") or {}).items()):
            alerts.add_metric([detector], total)
        yield alerts
        tls = CounterMetricFamily("honeyswitch_tls_handshakes", "TLS handshakes of terminating services, by "
                                  "service and result (ok, or the failure kind)", labels=["service", "result"])
        for key, n in sorted((data.get("tls") or {}).items()):
            _, service, result = key.split(":", 2)
            tls.add_metric([service, result], n)
        yield tls
        states = data.get("states") or {}
        g = GaugeMetricFamily("honeyswitch_sessions", "Live sessions, by state", labels=["state"])
        for state in STATES:
            g.add_metric([state], states.get(state, 0))
        yield g
        bl = self.control.blacklist
        yield GaugeMetricFamily("honeyswitch_blacklist_entries", "Blacklisted sources",
                                value=len(bl.entries()) if bl is not None else 0)
        yield GaugeMetricFamily("honeyswitch_writer_dropped", "Records the writer thread dropped",
                                value=data.get("writer_dropped", 0))
