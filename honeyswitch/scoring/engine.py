"""The scoring engine: every alert, from any detector, becomes source score, incident
and possibly a blacklist decision.

With ``[cluster]`` a source's score has two parts: this process's own (its alerts,
``sources``) and the other hosts' (``remote``: one decayed pair per source, replaced
whole as the cluster sync reports it).  Both halve with the same half-life, so their
sum is the score one process would have computed from every host's alerts; it is what
meets ``blacklist_threshold``.  Only the own part is published to the other hosts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .decay import DecayingScores
from .incidents import Incident, IncidentTracker


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    half_life: float = 600.0  # seconds for a source's score to halve
    blacklist_threshold: float = 200.0  # source score that blacklists it (0: never)
    incident_gap: float = 900.0  # seconds of quiet that close a source's incident
    # A detector's alert that carries its source's decayed score (all of the address's
    # sessions) to blacklist_threshold also switches the session it came from, before
    # that request reaches main.
    source_switch: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    src_ip: str
    source_score: float  # this process's part and the other hosts' together
    local_score: float  # this process's part only (what it publishes)
    incident: Incident
    opened: bool  # this alert opened the incident
    closed: tuple[Incident, ...]  # incidents closed on the way
    blacklist: bool  # the source crossed the blacklist threshold


class Scoring:
    def __init__(self, config: ScoringConfig, allowed: Callable[[str], bool] = lambda ip: False) -> None:
        self.config = config
        self.allowed = allowed
        self.sources = DecayingScores(config.half_life)
        self.remote = DecayingScores(config.half_life)  # the other hosts' parts ([cluster])
        self.incidents = IncidentTracker(config.incident_gap)

    def score(self, ip: str, now: float) -> float:
        """The source's whole score now: its own part and the other hosts'."""
        return self.sources.get(ip, now) + self.remote.get(ip, now)

    def remote_score(self, ip: str, score: float, at: float, now: float) -> tuple[float, float]:
        """The other hosts' part of ``ip`` is now ``score`` as of ``at`` (replacing what
        was there); returns the whole score (before, after)."""
        before = self.score(ip, now)
        self.remote.put(ip, score, at)
        return before, self.score(ip, now)

    def on_alert(self, alert: dict[str, Any], now: float) -> Decision | None:
        """Account for an ``alert`` event (its src_ip, score, service, session ...)."""
        ip = alert.get("src_ip")
        score = alert.get("score")
        if not isinstance(ip, str) or not ip or not isinstance(score, (int, float)):
            return None
        local = self.sources.add(ip, float(score), now)
        total = local + self.remote.get(ip, now)
        before = self.incidents.get(ip)
        incident, closed = self.incidents.add(
            ip, now, float(score), service=alert.get("service"), session_id=alert.get("session_id"),
            detector=str(alert.get("detector") or ""), reason=str(alert.get("reason") or ""),
        )
        threshold = self.config.blacklist_threshold
        return Decision(
            src_ip=ip,
            source_score=total,
            local_score=local,
            incident=incident,
            opened=incident is not before,
            closed=tuple(closed),
            blacklist=bool(threshold) and total >= threshold and not self.allowed(ip),
        )

    def tick(self, now: float) -> list[Incident]:
        """Periodic upkeep: forget faded sources; returns the incidents closed."""
        self.sources.prune(now)
        self.remote.prune(now)
        return self.incidents.close_idle(now)
