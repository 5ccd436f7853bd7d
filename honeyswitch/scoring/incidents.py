"""Incidents: the alerts of one source address grouped while it stays active.

An incident opens with a source's first alert and stays open while alerts keep coming
no more than ``gap`` seconds apart, across sessions and services.  It keeps its score
over time (bounded), the services, sessions and detectors involved and its top reasons.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

TIMELINE_MAX = 500  # points of score-over-time kept per incident
REASONS_MAX = 20
SESSIONS_MAX = 1000


@dataclass
class Incident:
    id: str
    src_ip: str
    started: float
    last: float
    alerts: int = 0
    score: float = 0.0
    services: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    detectors: set[str] = field(default_factory=set)
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> count
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (at, cumulative)
    closed: bool = False

    def as_dict(self) -> dict[str, Any]:
        top = sorted(self.reasons.items(), key=lambda kv: kv[1], reverse=True)
        return {
            "incident_id": self.id,
            "src_ip": self.src_ip,
            "started": self.started,
            "last": self.last,
            "alerts": self.alerts,
            "score": round(self.score, 3),
            "services": sorted(self.services),
            "sessions": sorted(self.sessions),
            "detectors": sorted(self.detectors),
            "reasons": [{"reason": r, "count": c} for r, c in top],
            "timeline": [[round(t, 6), round(s, 3)] for t, s in self.timeline],
            "closed": self.closed,
        }


class IncidentTracker:
    def __init__(self, gap: float, max_open: int = 10_000) -> None:
        self.gap = gap
        self.max_open = max_open
        self._open: dict[str, Incident] = {}  # src_ip -> incident

    def add(
        self, src_ip: str, at: float, score: float, *, service: str | None = None,
        session_id: str | None = None, detector: str = "", reason: str = "",
    ) -> tuple[Incident, list[Incident]]:
        """Record an alert; returns its incident and the incidents this closed."""
        closed = []
        inc = self._open.get(src_ip)
        if inc is not None and at - inc.last > self.gap:
            closed.append(self._close(inc))
            inc = None
        if inc is None:
            if len(self._open) >= self.max_open:
                closed.extend(self._close_oldest())
            inc = Incident(f"inc-{secrets.token_hex(5)}", src_ip, started=at, last=at)
            self._open[src_ip] = inc
        self._update(inc, at, score, service, session_id, detector, reason)
        return inc, closed

    def _update(self, inc: Incident, at: float, score: float, service: str | None,
                session_id: str | None, detector: str, reason: str) -> None:
        inc.last = max(inc.last, at)
        inc.alerts += 1
        inc.score += score
        if service:
            inc.services.add(service)
        if session_id and len(inc.sessions) < SESSIONS_MAX:
            inc.sessions.add(session_id)
        if detector:
            inc.detectors.add(detector)
        key = reason[:200]
        if key in inc.reasons or len(inc.reasons) < REASONS_MAX:
            inc.reasons[key] = inc.reasons.get(key, 0) + 1
        inc.timeline.append((at, inc.score))
        if len(inc.timeline) > TIMELINE_MAX:
            del inc.timeline[1 : len(inc.timeline) - TIMELINE_MAX + 1]  # keep the first point

    def close_idle(self, now: float) -> list[Incident]:
        """Close incidents whose source has been quiet for more than ``gap``."""
        idle = [inc for inc in self._open.values() if now - inc.last > self.gap]
        return [self._close(inc) for inc in idle]

    def open_incidents(self) -> list[Incident]:
        return sorted(self._open.values(), key=lambda i: i.last, reverse=True)

    def get(self, src_ip: str) -> Incident | None:
        return self._open.get(src_ip)

    def _close(self, inc: Incident) -> Incident:
        inc.closed = True
        self._open.pop(inc.src_ip, None)
        return inc

    def _close_oldest(self) -> list[Incident]:
        oldest = min(self._open.values(), key=lambda i: i.last)
        return [self._close(oldest)]
