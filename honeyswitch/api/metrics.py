"""Prometheus metrics, from the daemon's own registry (never the process-global one)."""
from __future__ import annotations

from collections import Counter as Tally
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from ..app import App


class Metrics:
    """Counts events as they are recorded; live gauges are read at scrape time."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter("honeyswitch_events", "Events recorded, by type", ["event_type"],
                              registry=self.registry)
        self.alerts = Counter("honeyswitch_alert_score", "Sum of alert scores, by detector",
                              ["detector"], registry=self.registry)
        self.registry.register(_Live(app))
        app.subscribe(self.on_event)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event_type"))
        self.events.labels(kind).inc()
        if kind == "alert" and isinstance(event.get("score"), (int, float)):
            self.alerts.labels(str(event.get("detector"))[:40]).inc(max(0.0, float(event["score"])))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live:
    def __init__(self, app: App) -> None:
        self.app = app

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        states = Tally(r.session.state.value for r in self.app.registry)
        g = GaugeMetricFamily("honeyswitch_sessions", "Live sessions, by state", labels=["state"])
        for state in ("mirror", "main_only", "switching", "honeypot", "direct"):
            g.add_metric([state], states.get(state, 0))
        yield g
        bl = self.app.blacklist
        yield GaugeMetricFamily("honeyswitch_blacklist_entries", "Blacklisted sources",
                                value=len(bl.entries()) if bl is not None else 0)
        w = self.app.writer
        yield GaugeMetricFamily("honeyswitch_writer_dropped", "Records the writer thread dropped",
                                value=getattr(w, "dropped", 0) if w is not None else 0)
