"""A small stand-in for the honeyswitch daemon on the :class:`~honeyswitch.fleet.ports.Daemon`
side of the seam, for testing the cluster sync component against a real Redis.

It stands in for honeyswitch only, never for Redis: an in-memory blacklist that merges
as :class:`~honeyswitch.store.blacklist.Blacklist` does (the expiry never gets earlier,
allowlisted addresses are refused), the real decaying scores
(:class:`~honeyswitch.scoring.decay.DecayingScores`) with the blacklist threshold
checked against the local plus the remote score, and a table of "live sessions" that a
switch moves to the honeypot state.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..fleet.model import BlacklistEntry, SourceShare, SwitchResult, SwitchTarget
from ..fleet.ports import Fleet
from ..fleet.shares import decayed
from ..scoring.decay import DecayingScores


class FakeDaemon:
    def __init__(self, name: str, *, half_life: float = 600.0, threshold: float = 200.0, ttl: float = 3600.0,
                 allow: Iterable[str] = (), clock: Callable[[], float] = time.time) -> None:
        self.name, self.half_life, self.threshold, self.ttl, self.clock = name, half_life, threshold, ttl, clock
        self.allow = set(allow)
        self.blacklist: dict[str, BlacklistEntry] = {}
        self.local = DecayingScores(half_life)
        self.remote: dict[str, tuple[float, float]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.fleet: Fleet | None = None

    # ------------------------------------------------------------ what honeyswitch does

    def is_listed(self, ip: str) -> bool:
        """The admission check: one dict lookup, no Redis."""
        entry = self.blacklist.get(ip)
        return entry is not None and (entry.expires is None or entry.expires > self.clock())

    def list_ip(self, ip: str, reason: str, by: str = "operator", ttl: float | None = None) -> BlacklistEntry | None:
        now = self.clock()
        ttl = self.ttl if ttl is None else ttl
        entry = self._merge(BlacklistEntry(ip, reason, by, now, now + ttl if ttl else None, now))
        if entry is not None and self.fleet is not None:
            self.fleet.publish_blacklist(entry)
        return entry

    def unlist_ip(self, ip: str, by: str = "operator") -> None:
        self.blacklist.pop(ip, None)
        if self.fleet is not None:
            self.fleet.publish_unblacklist(ip, by)

    def alert(self, ip: str, score: float) -> bool:
        """A local alert for ``ip``; True if it (with the other hosts' scores) blacklisted it."""
        now = self.clock()
        total = self.local.add(ip, score, now)
        if self.fleet is not None:
            self.fleet.publish_share(SourceShare(ip, total, now))
        return self._check(ip, now)

    def source_score(self, ip: str) -> float:
        now = self.clock()
        score, at = self.remote.get(ip, (0.0, now))
        return self.local.get(ip, now) + decayed(score, at, now, self.half_life)

    def open_session(self, session_id: str, ip: str, score: float = 0.0) -> None:
        self.sessions[session_id] = {"session_id": session_id, "src_ip": ip, "state": "mirror", "score": score}

    # ------------------------------------------------------------ the Daemon port

    def apply_blacklist(self, entry: BlacklistEntry) -> None:
        self._merge(entry)

    def remove_blacklist(self, ip: str, by: str) -> None:
        self.blacklist.pop(ip, None)

    def blacklist_entries(self) -> Iterable[BlacklistEntry]:
        now = self.clock()
        return [e for e in self.blacklist.values() if e.active(now)]

    def remote_score(self, ip: str, score: float, at: float) -> None:
        self.remote[ip] = (score, at)
        self._check(ip, at)

    def local_shares(self) -> Iterable[SourceShare]:
        now = self.clock()
        return [SourceShare(ip, score, now) for ip, score in self.local.items(now)]

    async def switch_local(self, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        if target.session_id is not None:
            found = [s for s in self.sessions.values() if s["session_id"] == target.session_id]
        else:
            found = [s for s in self.sessions.values() if s["src_ip"] == target.client]
        if not found:
            return SwitchResult("", "not_found")
        for s in found:
            s["state"], s["switched_by"] = "honeypot", by
        return SwitchResult("", "switched", tuple(s["session_id"] for s in found))

    async def live_sessions(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self.sessions.values()]

    def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    # ------------------------------------------------------------ internals

    def _merge(self, entry: BlacklistEntry) -> BlacklistEntry | None:
        if entry.ip in self.allow:
            return None
        old = self.blacklist.get(entry.ip)
        if old is not None and old.active(self.clock()) and not entry.outlives(old):
            return old
        self.blacklist[entry.ip] = entry
        return entry

    def _check(self, ip: str, now: float) -> bool:
        if self.threshold and not self.is_listed(ip) and self.source_score(ip) >= self.threshold:
            self.list_ip(ip, f"source score {self.source_score(ip):.0f} >= {self.threshold:g}", by="scoring")
            return True
        return False

    def types(self) -> list[str]:
        return [e["event_type"] for e in self.events]
