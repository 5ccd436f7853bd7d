"""Prometheus metric families of the cluster sync, from :meth:`FleetSync.stats`.

The daemon's ``/metrics`` collector (honeyswitch.api.metrics) yields these next to its
own: ``yield from families(snapshot.get("cluster"))``.  With workers, each worker's
stats are added up first (:func:`add`), as the other counters are.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

_KINDS = {"bl+": "blacklist_add", "bl-": "blacklist_remove", "src": "score"}


def add(stats: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Several processes' stats as one (gauges and counters summed; up: all up)."""
    out: dict[str, Any] = {"up": int(bool(stats) and all(s.get("up") for s in stats)), "counters": {}}
    for s in stats:
        for key in ("outbox", "outbox_dropped", "outbox_evicted", "remote_sources"):
            out[key] = out.get(key, 0) + s.get(key, 0)
        for name, n in (s.get("counters") or {}).items():
            out["counters"][name] = out["counters"].get(name, 0) + n
    return out


def families(stats: Mapping[str, Any] | None) -> Iterator[Metric]:
    if not stats:
        return
    c: Mapping[str, int] = stats.get("counters") or {}
    yield GaugeMetricFamily("honeyswitch_cluster_up", "1 while in contact with the cluster's Redis",
                            value=stats.get("up", 0))
    yield GaugeMetricFamily("honeyswitch_cluster_outbox", "Decisions waiting to be sent to Redis",
                            value=stats.get("outbox", 0))
    yield GaugeMetricFamily("honeyswitch_cluster_remote_sources", "Sources scored by other hosts",
                            value=stats.get("remote_sources", 0))
    for name, doc, value in (
        ("outbox_dropped", "Removals lost past the outbox bound", stats.get("outbox_dropped", 0)),
        ("outbox_evicted", "Adds and scores pushed out of the outbox (republished at the reconnect)",
         stats.get("outbox_evicted", 0)),
        ("redis_errors", "Failed Redis commands", c.get("redis_errors", 0)),
        ("reconnects", "Contacts made with Redis (the first one included)", c.get("reconnects", 0)),
        ("published", "Decisions sent from the outbox", c.get("published", 0)),
        ("republished", "Entries and scores republished by catch-ups", c.get("republished", 0)),
        ("events_shipped", "Events copied to the cluster's event stream", c.get("events_shipped", 0)),
        ("events_dropped", "Events dropped while Redis was down (buffer full)", c.get("events_dropped", 0)),
    ):
        yield CounterMetricFamily(f"honeyswitch_cluster_{name}", doc, value=value)
    applied = CounterMetricFamily("honeyswitch_cluster_applied", "Other hosts' decisions applied here",
                                  labels=["kind"])
    for kind, label in _KINDS.items():
        applied.add_metric([label], c.get(f"applied_{kind}", 0))
    yield applied
    switches = CounterMetricFamily("honeyswitch_cluster_switch_requests", "Switch requests between hosts",
                                   labels=["direction", "status"])
    for name, n in sorted(c.items()):
        for direction in ("sent", "served"):
            prefix = f"switch_{direction}_"
            if name.startswith(prefix):
                switches.add_metric([direction, name[len(prefix):]], n)
    yield switches
