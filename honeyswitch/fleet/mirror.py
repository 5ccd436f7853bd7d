"""The local copy of the shared state, and how remote decisions reach the daemon.

No I/O here: :mod:`.sync` feeds it what it read from Redis (decisions from the stream,
outcomes of what it sent, snapshots at a reconnect) and it updates the daemon through
the :class:`~.ports.Daemon` port.  It keeps:

- ``known``: the blacklist as this host last knew Redis to hold it (which tells a
  removal by the cluster from an entry Redis never had, see :mod:`.reconcile`);
- ``shares``: the other nodes' score shares (:class:`~.shares.RemoteShares`), from which
  the daemon gets each source's remote score.

Of two decisions about one address the later wins; an outbox operation still waiting
is newer than what arrives from the stream, so it is not overridden locally.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from .model import BlacklistEntry, SourceShare
from .outbox import ADD, REMOVE, SHARE, Op, Outbox
from .ports import Daemon
from .reconcile import reconcile
from .remote import Decision, Outcome
from .shares import RemoteShares

log = logging.getLogger(__name__)


class Mirror:
    def __init__(self, daemon: Daemon, node: str, half_life: float, outbox: Outbox, counters: Counter[str]) -> None:
        self.daemon, self.node, self.outbox, self.counters = daemon, node, outbox, counters
        self.known: dict[str, BlacklistEntry] = {}
        self.shares = RemoteShares(half_life)
        self._applying = False

    @contextmanager
    def _guard(self) -> Iterator[None]:
        # While the daemon applies a remote change, a publish_* it triggers is an echo.
        self._applying = True
        try:
            yield
        finally:
            self._applying = False

    # ------------------------------------------------------------ local decisions

    def wants_add(self, entry: BlacklistEntry) -> bool:
        """Whether publishing ``entry`` would tell the cluster something new."""
        if self._applying:
            return False
        pending = self.outbox.pending(entry.ip)
        if pending is not None and pending.kind == REMOVE:
            return True  # the add must replace the waiting removal
        old = self.known.get(entry.ip)
        return old is None or entry.outlives(old)

    def wants_remove(self) -> bool:
        return not self._applying

    def wants_share(self) -> bool:
        return not self._applying

    # ------------------------------------------------------------ from the stream

    def on_decision(self, d: Decision, now: float) -> None:
        if d.kind == ADD and d.entry is not None:
            self._remote_add(d.entry)
        elif d.kind == REMOVE:
            self._remote_remove(d.ip, d.at, f"{d.by}@{d.node}")
        elif d.kind == SHARE and d.share is not None:
            self.shares.put(d.node, d.share, now)
            self._tell_score(d.ip, now)
        self.counters[f"applied_{d.kind}"] += 1

    def _remote_add(self, entry: BlacklistEntry) -> None:
        old = self.known.get(entry.ip)
        if old is None or entry.outlives(old) or entry.at > old.at:
            self.known[entry.ip] = entry
        pending = self.outbox.pending(entry.ip)
        if pending is not None and pending.kind == REMOVE and pending.at >= entry.at:
            return  # our removal was decided later; it reaches Redis next
        with self._guard():
            self.daemon.apply_blacklist(entry)

    def _remote_remove(self, ip: str, at: float, by: str) -> None:
        self.known.pop(ip, None)
        pending = self.outbox.pending(ip)
        if pending is not None and pending.kind == ADD and pending.at > at:
            return  # our add was decided later; it wins when it lands
        with self._guard():
            self.daemon.remove_blacklist(ip, by)

    def _tell_score(self, ip: str, now: float) -> None:
        with self._guard():
            self.daemon.remote_score(ip, self.shares.score(ip, now), now)

    # ------------------------------------------------------------ what Redis made of ours

    def on_outcome(self, o: Outcome) -> None:
        op, status = o.op, o.status
        self.counters[f"outcome_{op.kind}_{status}"] += 1
        if op.kind == ADD and op.entry is not None:
            if status == "ok":
                self.known[op.ip] = op.entry
            elif status == "same" and o.entry is not None:
                self.known[op.ip] = o.entry
                if o.entry.outlives(op.entry) and self._newest(op):
                    with self._guard():  # the cluster's entry lasts longer: so does ours
                        self.daemon.apply_blacklist(o.entry)
            elif status == "stale":
                self.known.pop(op.ip, None)
                if self._newest(op):  # removed by the cluster after this add was decided
                    with self._guard():
                        self.daemon.remove_blacklist(op.ip, "cluster")
        elif op.kind == REMOVE:
            if status == "newer" and o.entry is not None:
                self.known[op.ip] = o.entry
                if self._newest(op):  # re-listed by the cluster after this removal
                    with self._guard():
                        self.daemon.apply_blacklist(o.entry)
            else:
                self.known.pop(op.ip, None)

    def _newest(self, op: Op) -> bool:
        """Whether no later local decision about ``op.ip`` is waiting."""
        pending = self.outbox.pending(op.ip)
        return pending is None or pending is op

    # ------------------------------------------------------------ a reconnect

    def forget_known(self) -> None:
        """Redis lost its data (or this is the first contact): nothing is known to be there."""
        self.known.clear()

    def resync(self, blacklist: dict[str, BlacklistEntry], shares: dict[str, dict[str, SourceShare]],
               now: float) -> tuple[list[BlacklistEntry], int, int]:
        """Take Redis's snapshot: update the daemon, return (entries to publish,
        applied, removed)."""
        local = {e.ip: e for e in self.daemon.blacklist_entries()}
        plan = reconcile(local, blacklist, self.known.keys(),
                         lambda ip: self.outbox.pending(ip) is not None)
        with self._guard():
            for entry in plan.apply:
                self.daemon.apply_blacklist(entry)
            for ip in plan.remove:
                self.daemon.remove_blacklist(ip, "cluster")
        self.known = dict(blacklist)
        others = {ip: {n: s for n, s in nodes.items() if n != self.node} for ip, nodes in shares.items()}
        for ip in self.shares.replace_all({ip: nodes for ip, nodes in others.items() if nodes}):
            self._tell_score(ip, now)
        return plan.publish, len(plan.apply), len(plan.remove)

    def prune(self, now: float) -> None:
        for ip in self.shares.prune(now):
            self._tell_score(ip, now)
        for ip in [ip for ip, e in self.known.items() if not e.active(now)]:
            del self.known[ip]
