"""The sync component: one per honeyswitch process with ``[cluster]`` (see docs/cluster.md).

It keeps the local copy (the daemon's own blacklist, plus the other nodes' score shares
in :class:`~.mirror.Mirror`), publishes this host's decisions through the outbox,
applies the other hosts' from the decision stream, answers switch requests and
publishes the live sessions.  Nothing the data path calls waits for Redis.

Contact with Redis is a small state machine, driven by :meth:`FleetSync._link`:
``connecting`` -> ``syncing`` -> ``up``; any failed command -> ``down`` (a
``cluster_down`` event, health says so, decisions wait in the outbox) -> reconnect
with backoff -> ``syncing`` (send the outbox, take a snapshot, reconcile, republish
what Redis lost) -> ``up`` (a ``cluster_up`` event with what was caught up).  The
background loops only run while ``up``; each generation of contact has a number, so a
failure reported by a loop of an older generation is ignored.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from .. import tasks
from ..events import iso_timestamp, make_event
from .config import ClusterConfig
from .connect import BLOCK_MS, Clients, make_clients
from .eventstream import EventShipper, follow
from .keys import Keys
from .mirror import Mirror
from .model import BlacklistEntry, SourceShare, SwitchResult, SwitchTarget
from .outbox import Op, Outbox
from .ports import Daemon
from .remote import BATCH, Remote
from .roster import Roster
from .switchboard import Switchboard

log = logging.getLogger(__name__)
ERRORS = (RedisError, OSError, TimeoutError)
BACKOFF_MIN, BACKOFF_MAX = 0.1, 2.0
MAX_SOURCES = 100_000  # shares read in a snapshot at most
PRUNE_EVERY = 5.0


def _still_cancelled(exc: BaseException) -> None:
    """Re-raise a cancellation that the client library turned into an error of its own
    (a loop that caught it as an outage would never stop)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


class FleetSync:
    def __init__(self, config: ClusterConfig, daemon: Daemon, *, half_life: float, worker: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self.daemon, self.clock = config, daemon, clock
        self.node = config.node(worker)
        self.keys = Keys(config.prefix)
        self.half_life = half_life
        self.counters: Counter[str] = Counter()
        self.outbox = Outbox(config.outbox)
        self.mirror = Mirror(daemon, self.node, half_life, self.outbox, self.counters)
        self.state, self.since, self.last_error = "connecting", clock(), ""
        self.last_sync: dict[str, Any] = {}
        self._down_at: float | None = None
        self._gen = 0
        self._epoch: str | None = None
        self._evicted_mark = 0
        self._dropped_mark = 0
        self._decision_mark = b"0-0"
        self._served_gen = -1
        self._up, self._lost = asyncio.Event(), asyncio.Event()
        self._wake, self._events_wake = asyncio.Event(), asyncio.Event()  # the outbox, the events
        self._clients: Clients | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._parts: tuple[Remote, Switchboard, Roster, EventShipper] | None = None
        self.shipper = EventShipper(None, self.keys, self.node, config.events_maxlen, self.counters)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the loops; returns at once (the first contact happens in the background)."""
        name = f"fleet:{self.node}:"
        self._tasks = [tasks.spawn(self._link(), name + "link"), tasks.spawn(self._prune_loop(), name + "prune")]
        for loop, step in (("send", self._send_step), ("follow", self._follow_step),
                           ("serve", self._serve_step), ("roster", self._roster_step),
                           ("events", self._events_step)):
            self._tasks.append(tasks.spawn(self._run(step), name + loop))

    async def stop(self, drain: float = 1.0) -> None:
        """Send what waits (for at most ``drain`` seconds), leave the roster, disconnect."""
        if self.state == "up" and self._parts is not None:
            try:
                await asyncio.wait_for(self._leave(), drain)
            except ERRORS as e:
                log.info("cluster: %d decisions not sent at stop: %s", len(self.outbox), e)
        await self._cancel_tasks()
        self._up.clear()
        if self._clients is not None:
            try:  # a hung Redis must not hold up the daemon's stop
                await asyncio.wait_for(self._clients.close(), self.config.timeout)
            except TimeoutError:
                log.info("cluster: Redis did not answer the disconnect")

    async def _cancel_tasks(self) -> None:
        # Cancelled again if need be: a client library may swallow one cancellation
        # in the middle of a reconnect.
        for _ in range(3):
            alive = [t for t in self._tasks if not t.done()]
            if not alive:
                return
            for t in alive:
                t.cancel()
            await asyncio.wait(alive, timeout=1.0)
        log.warning("cluster: %d tasks did not stop", sum(not t.done() for t in self._tasks))

    async def _leave(self) -> None:
        await self._drain()
        remote, _, roster, shipper = self._need()
        while shipper.buffer:
            await shipper.ship()
        await self._clients_cmd().zrem(self.keys.nodes, self.node)
        await self._clients_cmd().delete(self.keys.sessions(self.node))

    def _clients_cmd(self) -> Any:
        assert self._clients is not None
        return self._clients.cmd

    def _need(self) -> tuple[Remote, Switchboard, Roster, EventShipper]:
        if self._parts is None:
            raise ConnectionError("not connected")
        return self._parts

    def _open(self) -> None:
        c = self._clients = make_clients(self.config, self.node)
        cfg = self.config
        remote = Remote(c.cmd, c.block, self.keys, self.node, half_life=self.half_life,
                        maxlen=cfg.decisions_maxlen, tombstone_ttl=cfg.tombstone_ttl)
        board = Switchboard(c.cmd, c.block, self.keys, self.node, self.daemon, cfg.request_timeout,
                            self.counters, self.clock)
        roster = Roster(c.cmd, self.keys, self.node, cfg.sessions_interval, cfg.sessions_max, self.clock)
        self.shipper.cmd = c.cmd
        self._parts = (remote, board, roster, self.shipper)

    # ------------------------------------------------------------ contact

    async def _link(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            try:
                if self._clients is None:
                    self._open()
                await self._catch_up()
            except (*ERRORS, ValueError) as e:
                _still_cancelled(e)
                self._down(e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN
            self._set_up()
            await self._lost.wait()
            self._lost.clear()

    def _down(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] if str(exc) else type(exc).__name__
        self.counters["redis_errors"] += 1
        if self.state == "down":
            return
        self.state, self.since = "down", self.clock()
        self._down_at = self._down_at or self.since
        self._up.clear()
        if self._parts is not None:
            self._parts[1].fail_waiting("lost contact with Redis")
        log.warning("cluster: Redis unreachable (%s); going on with the local state", self.last_error)
        self.daemon.record(make_event("cluster_down", None, redis=self.config.shown(), error=self.last_error,
                                      outbox=len(self.outbox)))

    def _fail(self, exc: BaseException, gen: int) -> None:
        """A loop's command failed: if it belongs to the current contact, lose it."""
        if gen == self._gen and self.state == "up":
            self._down(exc)
            self._lost.set()

    def _set_up(self) -> None:
        now = self.clock()
        down_for = None if self._down_at is None else round(now - self._down_at, 3)
        self.state, self.since, self._down_at = "up", now, None
        self._gen += 1
        self.counters["reconnects"] += 1
        dropped = self.outbox.dropped - self._dropped_mark
        self._dropped_mark = self.outbox.dropped
        self.last_sync["dropped"] = dropped
        log.info("cluster: in contact with Redis (%s)", self.last_sync)
        self.daemon.record(make_event("cluster_up", None, redis=self.config.shown(), down_for=down_for,
                                      **self.last_sync))
        self._up.set()
        self._wake.set()

    async def _catch_up(self) -> None:
        remote, board, _, _ = self._need()
        epoch = await remote.epoch()
        fresh = epoch != self._epoch  # first contact, or Redis came back empty
        data_lost = fresh and self._epoch is not None
        if fresh:
            self.mirror.forget_known()
        replayed = await self._drain()
        now = self.clock()
        mark = await remote.last_decision()
        reply_mark = await self._clients_cmd().xrevrange(self.keys.replies(self.node), count=1)
        blacklist = await remote.blacklist(now)
        shares = await remote.shares(now, MAX_SOURCES)
        publish, applied, removed = self.mirror.resync(blacklist, shares, now)
        ops = [Op.add(e) for e in publish]
        if fresh or self.outbox.evicted != self._evicted_mark:
            ops += [Op.score(s) for s in self.daemon.local_shares() if not self.outbox.pending_share(s.ip)]
        self._evicted_mark = self.outbox.evicted
        await self._send(ops)
        await board.ensure_group()
        self._epoch = epoch  # only now: a failure above repeats the whole catch-up
        self._decision_mark = mark
        board.reply_mark = reply_mark[0][0] if reply_mark else b"0-0"
        self.last_sync = {"replayed": replayed, "published": len(ops), "applied": applied,
                          "removed": removed, "data_lost": data_lost}

    async def _drain(self) -> int:
        """Send what the outbox held when called; returns how many."""
        remote = self._need()[0]
        todo, sent = len(self.outbox), 0
        while self.outbox and sent < todo:
            ops = self.outbox.peek(BATCH)
            outcomes = await remote.apply(ops, self.clock())
            self.outbox.done(ops)
            for o in outcomes:
                self.mirror.on_outcome(o)
            sent += len(ops)
            self.counters["published"] += len(ops)
        return sent

    async def _send(self, ops: list[Op]) -> None:
        remote = self._need()[0]
        for i in range(0, len(ops), BATCH):
            for o in await remote.apply(ops[i:i + BATCH], self.clock()):
                self.mirror.on_outcome(o)
        self.counters["republished"] += len(ops)

    # ------------------------------------------------------------ the loops

    async def _run(self, step: Callable[[int], Awaitable[None]]) -> None:
        while True:
            await self._up.wait()
            gen = self._gen
            try:
                await step(gen)
            except ERRORS as e:
                _still_cancelled(e)
                self._fail(e, gen)
            except Exception:  # a bug here must not end the loop (nor spin it)
                log.exception("cluster: %s failed", getattr(step, "__name__", step))
                await asyncio.sleep(1.0)

    async def _send_step(self, gen: int) -> None:
        if not self.outbox:
            self._wake.clear()
            await self._wake.wait()
            return
        await self._drain()

    async def _follow_step(self, gen: int) -> None:
        remote, board, _, _ = self._need()
        streams = {self.keys.decisions: self._decision_mark, self.keys.replies(self.node): board.reply_mark}
        got = await remote.follow(streams, BLOCK_MS)
        if gen != self._gen:
            return  # read with the marks of an older contact: the catch-up covered it
        now = self.clock()
        for name, entries in got:
            for entry_id, fields in entries:
                if name == self.keys.decisions:
                    self._decision_mark = entry_id
                    decision = remote.decision(entry_id, fields)
                    if decision is not None:
                        self.mirror.on_decision(decision, now)
                else:
                    board.on_reply(entry_id, fields)

    async def _serve_step(self, gen: int) -> None:
        board = self._need()[1]
        if self._served_gen != gen:  # first, what an older contact left pending
            await board.serve(0, pending=True)
            self._served_gen = gen
        await board.serve(BLOCK_MS)

    async def _roster_step(self, gen: int) -> None:
        try:
            sessions = await self.daemon.live_sessions()
        except Exception:  # noqa: BLE001 - the daemon's failure must not stop the heartbeat
            log.exception("cluster: listing live sessions failed")
            sessions = []
        await self._need()[2].publish(sessions)
        await asyncio.sleep(self.config.sessions_interval)

    async def _events_step(self, gen: int) -> None:
        if not self.shipper.buffer:
            self._events_wake.clear()
            await self._events_wake.wait()
            return
        await self.shipper.ship()

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            self.mirror.prune(self.clock())

    # ------------------------------------------------------------ what the daemon calls

    def publish_blacklist(self, entry: BlacklistEntry) -> None:
        if not self.mirror.wants_add(entry):
            self.counters["unchanged"] += 1
            return
        self.outbox.put(Op.add(entry))
        self._wake.set()

    def publish_unblacklist(self, ip: str, by: str, at: float | None = None) -> None:
        if self.mirror.wants_remove():
            self.outbox.put(Op.remove(ip, self.clock() if at is None else at, by))
            self._wake.set()

    def publish_share(self, share: SourceShare) -> None:
        if self.mirror.wants_share():
            self.outbox.put(Op.score(share))
            self._wake.set()

    def publish_event(self, event: dict[str, Any]) -> None:
        if self.config.events:
            self.shipper.put(event)
            self._events_wake.set()

    def remote_score(self, ip: str, now: float) -> float:
        return self.mirror.shares.score(ip, now)

    def remote_source(self, ip: str, now: float) -> dict[str, Any]:
        return {"by_node": self.mirror.shares.by_node(ip, now), "incident": self.mirror.shares.incident(ip, now)}

    def follow_events(self, since: str = "$") -> AsyncIterator[dict[str, Any]]:
        if self._clients is None:
            self._open()
        assert self._clients is not None
        return follow(self._clients.block, self.keys, since, self._up.wait)

    def health(self) -> dict[str, Any]:
        return {"state": self.state, "node": self.node, "redis": self.config.shown(),
                "since": iso_timestamp(self.since), "last_error": self.last_error or None,
                "outbox": len(self.outbox), "outbox_evicted": self.outbox.evicted,
                "outbox_dropped": self.outbox.dropped, "events_waiting": len(self.shipper.buffer),
                "events_dropped": self.counters["events_dropped"], "remote_sources": len(self.mirror.shares),
                "blacklist_known": len(self.mirror.known), "last_sync": dict(self.last_sync)}

    def stats(self) -> dict[str, Any]:
        return {"up": int(self.state == "up"), "outbox": len(self.outbox), "outbox_dropped": self.outbox.dropped,
                "outbox_evicted": self.outbox.evicted, "remote_sources": len(self.mirror.shares),
                "counters": dict(self.counters)}

    # ------------------------------------------------------------ operator side (awaits Redis)

    async def request_switch(self, node: str, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        if node == self.node:
            r = await self.daemon.switch_local(target, by, reason)
            return SwitchResult(self.node, r.status, r.sessions, r.detail)
        if self.state != "up":
            return SwitchResult(node, "unreachable", detail=f"Redis is {self.state}")
        _, board, roster, _ = self._need()
        gen = self._gen
        try:
            if node not in await roster.live_nodes():
                return SwitchResult(node, "unreachable", detail="no such live host")
            return await board.request(node, target, by, reason)
        except ERRORS as e:
            self._fail(e, gen)
            return SwitchResult(node, "unreachable", detail=str(e)[:200])

    async def switch_anywhere(self, target: SwitchTarget, by: str, reason: str) -> list[SwitchResult]:
        local = await self.request_switch(self.node, target, by, reason)
        if target.session_id is not None:
            if local.status != "not_found" or self.state != "up":
                return [local]
            await self.cluster_sessions()  # refresh where every session is
            node = self._need()[2].locate(target.session_id)
            return [local] if node is None else [await self.request_switch(node, target, by, reason)]
        if self.state != "up":
            return [local]
        gen = self._gen
        try:
            nodes = [n for n in await self._need()[2].live_nodes() if n != self.node]
        except ERRORS as e:
            self._fail(e, gen)
            return [local]
        return [local, *await asyncio.gather(*(self.request_switch(n, target, by, reason) for n in nodes))]

    async def cluster_sessions(self) -> dict[str, Any]:
        local = await self.daemon.live_sessions()
        roster = self._parts[2] if self._parts is not None else None
        if roster is None:
            return {"sessions": [{**s, "host": self.node} for s in local], "hosts": {}, "redis": self.state}
        listings, stale, gen = roster.cache, self.state != "up", self._gen
        if not stale:
            try:
                listings = await roster.read()
            except ERRORS as e:
                self._fail(e, gen)
                stale = True
        return {**roster.view(local, listings, stale), "redis": self.state}
