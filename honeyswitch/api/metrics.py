"""Prometheus metrics, from the daemon's own registry (never the process-global one).

Nothing is counted on the relay's hot path for them: each process keeps an
:class:`~honeyswitch.record.tally.EventTally`, and a scrape asks the control side for a
snapshot (every worker's, added up) and turns it into metric families.  Every family
is listed in README, Metrics; ``packaging/grafana/honeyswitch.json`` charts them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ..fleet.metrics import families
from ..record.tally import LATENCY_BUCKETS, SEP, key
from .operations import perform

if TYPE_CHECKING:
    from .operations import ControlPort

STATES = ("mirror", "main_only", "switching", "honeypot", "direct")


class Metrics:
    def __init__(self, control: ControlPort) -> None:
        self.control = control
        self.registry = CollectorRegistry(auto_describe=True)
        self._collector = _Snapshot(control)
        self.registry.register(self._collector)

    async def render(self) -> bytes:
        self._collector.data = await perform(self.control, "metrics", {})
        try:
            return generate_latest(self.registry)
        finally:
            self._collector.data = {}


class _Snapshot:
    def __init__(self, control: ControlPort) -> None:
        self.control = control
        self.data: dict[str, Any] = {}

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        d = self.data
        services = [s.name for s in self.control.config.services]
        yield _family(CounterMetricFamily, "honeyswitch_events", "Events recorded, by type",
                      ["event_type"], d.get("events"))
        yield _family(CounterMetricFamily, "honeyswitch_alerts", "Alerts raised, by detector",
                      ["detector"], d.get("alerts"))
        yield _family(CounterMetricFamily, "honeyswitch_alert_score", "Sum of alert scores, by detector",
                      ["detector"], d.get("alert_scores"))
        yield _family(CounterMetricFamily, "honeyswitch_detector_errors", "Detector failures, by detector",
                      ["detector"], d.get("detector_errors"))
        yield _family(CounterMetricFamily, "honeyswitch_tls_handshakes",
                      "TLS handshakes of terminating services, by service and result (ok, or the failure kind)",
                      ["service", "result"], d.get("tls"))
        live = dict.fromkeys((key(s, st) for s in services for st in STATES), 0)
        yield _family(GaugeMetricFamily, "honeyswitch_sessions", "Live sessions, by service and state",
                      ["service", "state"], {**live, **(d.get("sessions") or {})})
        yield _family(CounterMetricFamily, "honeyswitch_sessions_started",
                      "Sessions accepted, by service and state at accept (mirror, direct)",
                      ["service", "state"], d.get("started"))
        yield _family(CounterMetricFamily, "honeyswitch_sessions_ended",
                      "Sessions ended, by service and final state", ["service", "state"], d.get("ended"))
        yield _family(CounterMetricFamily, "honeyswitch_switches", "Switches to the honeypot, by who decided",
                      ["service", "by"], d.get("switches"))
        yield _family(CounterMetricFamily, "honeyswitch_bytes",
                      "Bytes received from the client, sent by main to the client, received from the honeypot",
                      ["service", "direction"], d.get("bytes"))
        yield _family(CounterMetricFamily, "honeyswitch_honeypot_dropped",
                      "Sessions whose honeypot was dropped (refused, crashed, fell behind)",
                      ["service"], {**dict.fromkeys(services, 0), **(d.get("dropped") or {})})
        yield _family(GaugeMetricFamily, "honeyswitch_honeypot_lag_bytes",
                      "How far the honeypot's output trails main's, summed over mirrored sessions",
                      ["service"], {**dict.fromkeys(services, 0), **(d.get("lag") or {})})
        yield _latency(d.get("latency") or {})
        bl = self.control.blacklist
        yield GaugeMetricFamily("honeyswitch_blacklist_entries", "Blacklisted sources",
                                value=len(bl.entries()) if bl is not None else 0)
        yield GaugeMetricFamily("honeyswitch_writer_dropped", "Records the writer thread dropped",
                                value=d.get("writer_dropped", 0))
        yield from families(d.get("cluster"))  # [cluster]: the sync component's, every node's added up


def _family(kind: Any, name: str, doc: str, labels: list[str], values: dict[str, float] | None) -> Any:
    family = kind(name, doc, labels=labels)
    for joined, value in sorted((values or {}).items()):
        parts = joined.split(SEP)
        if len(parts) == len(labels):
            family.add_metric(parts, value)
    return family


def _latency(data: dict[str, Any]) -> HistogramMetricFamily:
    counts = list(data.get("buckets") or [0] * (len(LATENCY_BUCKETS) + 1))
    cumulative, total = [], 0
    for le, n in zip((*(f"{b:g}" for b in LATENCY_BUCKETS), "+Inf"), counts, strict=False):
        total += int(n)
        cumulative.append((le, total))
    return HistogramMetricFamily("honeyswitch_switch_latency_seconds",
                                 "Seconds from a switch to the honeypot serving and main reset",
                                 buckets=cumulative, sum_value=float(data.get("sum", 0.0)))
