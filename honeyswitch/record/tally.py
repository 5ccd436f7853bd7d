"""What ``/metrics`` reports, counted from the events each process records.

Nothing is counted on the relay's hot path: :class:`EventTally` is one more subscriber
of the recorder, and live figures (sessions by state, honeypot lag, bytes so far) are
read from the session registry at scrape time.  A process's :func:`snapshot` is plain
JSON (label values joined by :data:`SEP`) so the supervisor can add up its workers'
with :func:`merge_snapshots`.
"""
from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import App
    from ..relay.registry import Registry

SEP = "\x1f"  # joins label values in snapshot keys (never in a service or detector name)
# Seconds from the switch to the honeypot serving and main reset (quiet alignment waits
# up to quiet_max, 3 s by default).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MAX_PENDING = 100_000  # switches awaiting their switch_done (each ends with its session)
_LABEL_MAX = 40
KEYS_MAX = 4096  # label pairs whose joined key is kept (services x states, by, directions)


def _label(value: Any) -> str:
    return str(value)[:_LABEL_MAX].replace(SEP, " ")


def key(*values: Any) -> str:
    return SEP.join(_label(v) for v in values)


def _add(counts: dict[str, int], k: str, n: int) -> None:
    counts[k] = counts.get(k, 0) + n


class EventTally:
    """Counts recorded events; call it with each event (a recorder subscriber)."""

    def __init__(self) -> None:
        # Plain dicts, not Counters: a session's two events update them on the loop, and a
        # dict's own methods are what compiled code calls fastest.
        self.events: dict[str, int] = {}
        self.alert_scores: dict[str, float] = {}  # detector
        self.alerts: dict[str, int] = {}  # detector
        self.detector_errors: dict[str, int] = {}  # detector
        self.started: dict[str, int] = {}  # service, state at accept
        self.ended: dict[str, int] = {}  # service, final state
        self.switches: dict[str, int] = {}  # service, by
        self.dropped: dict[str, int] = {}  # service
        self.bytes: dict[str, int] = {}  # service, direction: of ended sessions
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)  # the last bucket is +Inf
        self.latency_sum = 0.0
        self._switching: dict[str, float] = {}
        self._keys: dict[tuple[str, str], str] = {}  # label pairs seen, joined once

    def _key(self, a: Any, b: Any) -> str:
        pair = (str(a), str(b))
        joined = self._keys.get(pair)
        if joined is None:
            joined = key(a, b)
            if len(self._keys) < KEYS_MAX:
                self._keys[pair] = joined
        return joined

    def __call__(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event_type"))
        _add(self.events, kind, 1)
        service = event.get("service") or ""
        if kind == "session_start":
            _add(self.started, self._key(service, event.get("state")), 1)
        elif kind == "session_end":
            self._switching.pop(str(event.get("session_id")), None)
            _add(self.ended, self._key(service, event.get("state")), 1)
            for direction, field in _DIRECTIONS:
                _add(self.bytes, self._key(service, direction), int(event.get(field) or 0))
        elif kind == "alert":
            detector = _label(event.get("detector"))
            _add(self.alerts, detector, 1)
            score = event.get("score")
            if isinstance(score, (int, float)) and not isinstance(score, bool) and score > 0:
                self.alert_scores[detector] = self.alert_scores.get(detector, 0.0) + float(score)
        elif kind == "detector_error":
            _add(self.detector_errors, _label(event.get("detector")), 1)
        elif kind == "switch":
            _add(self.switches, self._key(service, event.get("by")), 1)
            if len(self._switching) < MAX_PENDING:
                self._switching[str(event.get("session_id"))] = time.monotonic()
        elif kind == "switch_done":
            t0 = self._switching.pop(str(event.get("session_id")), None)
            if t0 is not None:
                self.observe(time.monotonic() - t0)
        elif kind == "honeypot_dropped":
            _add(self.dropped, key(service), 1)

    def observe(self, seconds: float) -> None:
        self.latency[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds


_DIRECTIONS = (("client", "bytes_from_client"), ("main", "bytes_main_to_client"),
               ("honeypot", "bytes_from_honeypot"))


def live(registry: Registry) -> dict[str, Counter[str]]:
    """Sessions by service and state, bytes of live sessions, and honeypot lag (how
    far the honeypot's output trails main's, summed over mirrored sessions)."""
    states: Counter[str] = Counter()
    live_bytes: Counter[str] = Counter()
    lag: Counter[str] = Counter()
    for r in registry:
        s, name = r.session, r.service.name
        states[key(name, s.state.value)] += 1
        for direction, value in (("client", s.client_received), ("main", s.main_sent),
                                 ("honeypot", s.hp_received)):
            live_bytes[key(name, direction)] += value
        if s.state.value == "mirror":
            lag[key(name)] += max(0, s.main_sent - s.hp_received)
    return {"sessions": states, "live_bytes": live_bytes, "lag": lag}


def snapshot(app: App) -> dict[str, Any]:
    """This process's figures for /metrics, in a form several workers' add up."""
    t = app.tally
    now = live(app.registry)
    return {
        "sessions": dict(now["sessions"]),
        "lag": dict(now["lag"]),
        "bytes": dict(Counter(t.bytes) + now["live_bytes"]),
        "events": dict(t.events), "alerts": dict(t.alerts), "alert_scores": dict(t.alert_scores),
        "started": dict(t.started), "ended": dict(t.ended), "switches": dict(t.switches),
        "dropped": dict(t.dropped), "detector_errors": dict(t.detector_errors),
        "latency": {"buckets": list(t.latency), "sum": t.latency_sum},
        "writer_dropped": getattr(app.writer, "dropped", 0) if app.writer is not None else 0,
        # "tls:<service>:<kind>" counters of the TLS gate, as (service, result) labels
        "tls": {key(*k.split(":", 2)[1:]): n for k, n in app.counters.items() if k.startswith("tls:")},
    }


def merge_snapshots(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Several processes' snapshots added up."""
    out: dict[str, Any] = {"latency": {"buckets": [0] * (len(LATENCY_BUCKETS) + 1), "sum": 0.0},
                           "writer_dropped": 0}
    for part in parts:
        for name, value in part.items():
            if name == "latency":
                hist = out["latency"]
                for i, n in enumerate(value.get("buckets", [])[: len(hist["buckets"])]):
                    hist["buckets"][i] += int(n)
                hist["sum"] += float(value.get("sum", 0.0))
            elif isinstance(value, dict):
                out.setdefault(name, Counter()).update(value)
            elif isinstance(value, (int, float)):
                out[name] = out.get(name, 0) + value
    return {k: dict(v) if isinstance(v, Counter) else v for k, v in out.items()}
