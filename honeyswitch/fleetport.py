"""The daemon's side of the cluster sync: :class:`FleetPort` implements
:class:`honeyswitch.fleet.ports.Daemon` on a few narrow parts of one relay process
(:class:`~honeyswitch.app.App`, or one worker's).

Remote decisions meet the same pieces local ones do: an entry goes through
:meth:`Blacklist.merge` (so it merges, persists and is refused for an allowlisted
address as a local add), a remote score through the policy, whose decisions
:meth:`App.carry_out` runs.  Those decisions are this host's own (its sum crossed the
threshold), so they run just after the sync component's apply, where a publish would
be taken for an echo.  With workers every worker applies what the other hosts decide
(each has its own in-memory copy) and the one that owns the source records it, so the
host's record has one event per change; a sibling worker's blacklist change reaches it
through the shared SQLite store instead, as it always has (its score parts are applied:
they add up across workers).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .fleet.model import BlacklistEntry, SourceShare, SwitchResult, SwitchTarget

if TYPE_CHECKING:
    from .app import App


def split_by(by: str) -> tuple[str, str]:
    """``(by, origin)`` of a stored entry: another host's is kept as ``by@origin``."""
    who, at, origin = by.rpartition("@")
    return (who, origin) if at else (by, "")


def entry_of(row: dict[str, Any], at: float | None = None) -> BlacklistEntry:
    """A local blacklist entry (``Blacklist.entries()`` form) as the cluster knows one."""
    by, origin = split_by(str(row.get("by") or ""))
    return BlacklistEntry(row["ip"], str(row.get("reason") or ""), by, row["added"], row["expires"],
                          at=row["added"] if at is None else at, origin=origin)


class FleetPort:
    def __init__(self, app: App) -> None:
        self.app = app

    def _records(self, ip: str) -> bool:
        """Whether this process records the host's event for a change to ``ip``."""
        w = self.app.worker
        return w is None or w.owns_source(ip)

    def _sibling(self, node: str) -> bool:
        """Whether ``node`` is another worker of this host."""
        cfg = self.app.config.cluster
        return self.app.worker is not None and cfg is not None and node.partition("/")[0] == cfg.host

    def apply_blacklist(self, entry: BlacklistEntry) -> None:
        bl = self.app.blacklist
        if bl is not None and not self._sibling(entry.origin):
            bl.merge(entry.ip, entry.reason, entry.by, entry.expires, origin=entry.origin or "cluster",
                     record=self._records(entry.ip))

    def remove_blacklist(self, ip: str, by: str) -> None:
        bl = self.app.blacklist
        if bl is not None and not self._sibling(split_by(by)[1]):
            bl.remove(ip, by, record=self._records(ip))

    def blacklist_entries(self) -> Iterable[BlacklistEntry]:
        bl = self.app.blacklist
        return [] if bl is None else [entry_of(row) for row in bl.entries()]

    def remote_score(self, ip: str, score: float, at: float) -> None:
        decisions = self.app.policy.remote_score(ip, score, at, time.time())
        if decisions:
            asyncio.get_running_loop().call_soon(self.app.carry_out, decisions)

    def local_shares(self) -> Iterable[SourceShare]:
        return self.app.policy.local_shares()

    async def switch_local(self, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        app = self.app
        if target.session_id is not None:
            ok = app.switch_session(target.session_id, by, reason)
            status = "not_found" if ok is None else "switched" if ok else "no_honeypot"
            return SwitchResult("", status, (target.session_id,) if ok else ())
        assert target.client is not None
        ids = app.switch_client(target.client, by, reason)
        if ids:
            return SwitchResult("", "switched", tuple(ids))
        return SwitchResult("", "no_honeypot" if app.registry.by_client(target.client) else "not_found")

    async def live_sessions(self) -> list[dict[str, Any]]:
        return self.app.live_sessions()

    def record(self, event: dict[str, Any]) -> None:
        self.app.record(event)
