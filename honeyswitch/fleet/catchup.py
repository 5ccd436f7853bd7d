"""Sending this node's decisions, and catching up after (re)gaining contact.

:meth:`Sender.drain` sends what the outbox holds, in batches of one script call each.
:meth:`Sender.catch_up` runs before every stretch of contact: it notices whether Redis
lost its data (a new epoch), sends the outbox, takes a snapshot of the blacklist and
the score shares, reconciles the daemon with it (:mod:`.reconcile`), republishes what
Redis lacks, and says where the stream reads start.  A failure anywhere repeats the
whole catch-up at the next attempt: every step is idempotent.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .mirror import Mirror
from .outbox import Op, Outbox
from .ports import Daemon
from .remote import BATCH, Remote
from .switchboard import Switchboard

MAX_SOURCES = 100_000  # shares read in a snapshot at most


@dataclass(frozen=True, slots=True)
class Marks:
    """Where the stream reads of a new stretch of contact start."""

    decisions: bytes
    replies: bytes


class Sender:
    def __init__(self, remote: Remote, mirror: Mirror, outbox: Outbox, daemon: Daemon, counters: Counter[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.remote, self.mirror, self.outbox, self.daemon = remote, mirror, outbox, daemon
        self.counters, self.clock = counters, clock
        self.epoch: str | None = None
        self._evicted_mark = 0
        self._dropped_mark = 0

    async def drain(self) -> int:
        """Send what the outbox held when called (not what arrives meanwhile: a flood
        must not keep a catch-up from ending); returns how many."""
        todo, sent = len(self.outbox), 0
        while self.outbox and sent < todo:
            ops = self.outbox.peek(BATCH)
            outcomes = await self.remote.apply(ops, self.clock())
            self.outbox.done(ops)
            for o in outcomes:
                self.mirror.on_outcome(o)
            sent += len(ops)
        self.counters["published"] += sent
        return sent

    async def send(self, ops: list[Op]) -> None:
        """Send operations that are not in the outbox (a republish)."""
        for i in range(0, len(ops), BATCH):
            for o in await self.remote.apply(ops[i:i + BATCH], self.clock()):
                self.mirror.on_outcome(o)
        self.counters["republished"] += len(ops)

    async def catch_up(self, board: Switchboard, replies_key: str) -> tuple[dict[str, Any], Marks]:
        """Returns what was caught up (the cluster_up event's fields) and the marks."""
        remote = self.remote
        epoch = await remote.epoch()
        fresh = epoch != self.epoch  # first contact, or Redis came back empty
        if fresh:
            self.mirror.forget_known()
        replayed = await self.drain()
        now = self.clock()
        decisions = await remote.last_decision()
        replies = await remote.cmd.xrevrange(replies_key, count=1)
        blacklist = await remote.blacklist(now)
        shares = await remote.shares(now, MAX_SOURCES)
        publish, applied, removed = self.mirror.resync(blacklist, shares, now)
        ops = [Op.add(e) for e in publish]
        if fresh or self.outbox.evicted != self._evicted_mark:
            ops += [Op.score(s) for s in self.daemon.local_shares() if not self.outbox.pending_share(s.ip)]
        await self.send(ops)
        await board.ensure_group()
        data_lost = fresh and self.epoch is not None
        self.epoch, self._evicted_mark = epoch, self.outbox.evicted  # only now: all of it went through
        dropped, self._dropped_mark = self.outbox.dropped - self._dropped_mark, self.outbox.dropped
        caught_up = {"replayed": replayed, "published": len(ops), "applied": applied, "removed": removed,
                     "dropped": dropped, "data_lost": data_lost}
        return caught_up, Marks(decisions, replies[0][0] if replies else b"0-0")
