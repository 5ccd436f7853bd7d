"""The two sides of the seam between the daemon and the cluster sync component.

:class:`Daemon` is what the component needs from honeyswitch: the daemon implements it
(in one process, App; with workers, each worker) and hands it to
:class:`~honeyswitch.fleet.sync.FleetSync`.  :class:`Fleet` is what the component offers
back.  Everything on the data path is synchronous and local on both sides: applying a
remote entry is a dict update, publishing a decision is an append to the outbox.
Only operator-side calls (a switch on another host, the cluster's session list) await
Redis, with a timeout.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Protocol

from .model import BlacklistEntry, SourceShare, SwitchResult, SwitchTarget


class Daemon(Protocol):
    """What the sync component asks of honeyswitch.  Every method is called from the
    event loop's thread and must not block; none of them may call back into
    ``publish_*`` for the change it is applying (the component ignores such echoes)."""

    def apply_blacklist(self, entry: BlacklistEntry) -> None:
        """List ``entry.ip`` locally as another node decided (merging as a local add
        does: the expiry never gets earlier).  An allowlisted address is refused here."""

    def remove_blacklist(self, ip: str, by: str) -> None:
        """Unlist ``ip`` locally: the cluster removed it (``by`` says who)."""

    def blacklist_entries(self) -> Iterable[BlacklistEntry]:
        """The active local entries, with ``origin`` "" for this host's own decisions
        and ``at`` the time of the latest decision about each (``added`` will do)."""

    def remote_score(self, ip: str, score: float, at: float) -> None:
        """The other nodes' summed score for ``ip`` is ``score`` as of ``at``; it decays
        with the local half-life from then.  Replaces the previous value (0: none).
        The daemon adds it to its own score of ``ip`` wherever it compares a source's
        score with ``blacklist_threshold`` (and may blacklist at once)."""

    def local_shares(self) -> Iterable[SourceShare]:
        """This host's own score (its alerts only) of every source it still scores,
        with its open incident's totals: republished after Redis lost its data."""

    async def switch_local(self, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        """Switch a session (or every session of a client) held here, as another node
        asked.  ``node`` in the result may be "" (the component fills it in)."""

    async def live_sessions(self) -> list[dict[str, Any]]:
        """The live sessions here, as the control API lists them (JSON values)."""

    def record(self, event: dict[str, Any]) -> None:
        """Record one of the component's events (cluster_down, cluster_up,
        cluster_switch) as every other event is recorded."""


class Fleet(Protocol):
    """What the sync component offers the daemon."""

    node: str

    async def start(self) -> None:
        """Start syncing in the background; returns at once, Redis up or not."""

    async def stop(self) -> None:
        """Send what waits (briefly) and disconnect."""

    def publish_blacklist(self, entry: BlacklistEntry) -> None:
        """This host listed (or refreshed) ``entry.ip``.  Never blocks."""

    def publish_unblacklist(self, ip: str, by: str, at: float | None = None) -> None:
        """This host unlisted ``ip`` (an operator; not an expiry).  Never blocks."""

    def publish_share(self, share: SourceShare) -> None:
        """This host's own score of ``share.ip`` changed (after each alert).  Never blocks."""

    def publish_event(self, event: dict[str, Any]) -> None:
        """Copy ``event`` to the cluster's event stream (bounded; dropped past it)."""

    def remote_score(self, ip: str, now: float) -> float:
        """The other nodes' summed score for ``ip`` now (local copy, no Redis)."""

    def remote_source(self, ip: str, now: float) -> dict[str, Any]:
        """The other nodes' part in ``ip``: score by node, open incidents' totals."""

    async def request_switch(self, node: str, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        """Ask ``node`` to switch ``target``; its answer, or timeout/unreachable."""

    async def switch_anywhere(self, target: SwitchTarget, by: str, reason: str) -> list[SwitchResult]:
        """A session: on whichever node holds it; a client: on every live node."""

    async def cluster_sessions(self) -> dict[str, Any]:
        """``{"sessions": [...each with "host"...], "hosts": {node: status}}``."""

    def follow_events(self, since: str = "$") -> AsyncIterator[dict[str, Any]]:
        """Every node's events as they come (the cluster-wide event stream)."""

    def health(self) -> dict[str, Any]:
        """For ``GET /api/v1/health``: state, since, outbox, dropped, last error ..."""

    def stats(self) -> dict[str, Any]:
        """Counters and gauges for ``/metrics`` (see :mod:`.metrics`)."""
