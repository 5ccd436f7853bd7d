"""The sync component: one per honeyswitch process with ``[cluster]`` (see docs/cluster.md).

It keeps the local copy (the daemon's own blacklist, plus the other nodes' score shares
in :class:`~.mirror.Mirror`), publishes this host's decisions through the outbox,
applies the other hosts' from the decision stream, answers switch requests, publishes
the live sessions and ships events.  Nothing the data path calls waits for Redis: the
``publish_*`` calls append to the outbox and return.

The link task makes contact (:class:`~.contact.Contact`), catches up
(:class:`~.catchup.Sender`) and waits until a loop loses the contact; then it tries
again with backoff.  The background loops run only while in contact.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .. import tasks
from .catchup import Sender
from .config import ClusterConfig
from .connect import BLOCK_MS, Clients, make_clients
from .contact import BACKOFF_MAX, BACKOFF_MIN, ERRORS, Contact, still_cancelled
from .eventstream import BATCH, EventShipper, follow
from .keys import Keys
from .mirror import Mirror
from .model import BlacklistEntry, SourceShare, SwitchResult, SwitchTarget
from .operations import Operations
from .outbox import Op, Outbox
from .ports import Daemon
from .remote import Remote
from .roster import Roster
from .switchboard import Switchboard

log = logging.getLogger(__name__)
PRUNE_EVERY = 5.0
EVENTS_LINGER = 0.1  # seconds events wait to go to the cluster's stream together (a live feed)


class _Parts:
    """What exists once the clients do."""

    def __init__(self, sync: FleetSync, clients: Clients) -> None:
        cfg, c = sync.config, clients
        self.clients = c
        self.remote = Remote(c.cmd, c.block, sync.keys, sync.node, half_life=sync.half_life,
                             maxlen=cfg.decisions_maxlen, tombstone_ttl=cfg.tombstone_ttl)
        self.board = Switchboard(c.cmd, c.block, sync.keys, sync.node, sync.daemon, cfg.request_timeout,
                                 sync.counters, sync.clock)
        self.roster = Roster(c.cmd, sync.keys, sync.node, cfg.sessions_interval, cfg.sessions_max, sync.clock)
        self.sender = Sender(self.remote, sync.mirror, sync.outbox, sync.daemon, sync.counters, sync.clock)


class FleetSync:
    def __init__(self, config: ClusterConfig, daemon: Daemon, *, half_life: float, worker: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config, self.daemon, self.clock, self.half_life = config, daemon, clock, half_life
        self.node = config.node(worker)
        self.keys = Keys(config.prefix)
        self.counters: Counter[str] = Counter()
        self.outbox = Outbox(config.outbox)
        self.mirror = Mirror(daemon, self.node, half_life, self.outbox, self.counters)
        self.contact = Contact(config.shown(), daemon.record, self.counters, clock)
        self.shipper = EventShipper(None, self.keys, self.node, config.events_maxlen, self.counters)
        self.ops = Operations(self.node, daemon, self.contact, None, None, self._outbox_len)
        self.last_sync: dict[str, Any] = {}
        self._parts: _Parts | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._decision_mark, self._served_gen = b"0-0", -1
        self._wake, self._events_wake = asyncio.Event(), asyncio.Event()  # the outbox, the events
        self.contact.on_down.append(self._on_down)

    @property
    def state(self) -> str:
        return self.contact.state

    def _outbox_len(self) -> int:
        return len(self.outbox)

    def _on_down(self) -> None:
        if self._parts is not None:
            self._parts.board.fail_waiting("lost contact with Redis")

    def _open(self) -> _Parts:
        if self._parts is None:
            parts = self._parts = _Parts(self, make_clients(self.config, self.node))
            self.shipper.cmd = parts.clients.cmd
            self.ops = Operations(self.node, self.daemon, self.contact, parts.board, parts.roster, self._outbox_len)
        return self._parts

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
        if self.contact.is_up and self._parts is not None:
            try:
                await asyncio.wait_for(self._leave(self._parts), drain)
            except ERRORS as e:
                log.info("cluster: %d decisions not sent at stop: %s", len(self.outbox), e)
        await self._cancel_tasks()
        self.contact.up.clear()
        if self._parts is not None:
            try:  # a hung Redis must not hold up the daemon's stop
                await asyncio.wait_for(self._parts.clients.close(), self.config.timeout)
            except TimeoutError:
                log.info("cluster: Redis did not answer the disconnect")

    async def _leave(self, parts: _Parts) -> None:
        await parts.sender.drain()
        while self.shipper.buffer:
            await self.shipper.ship()
        await parts.clients.cmd.zrem(self.keys.nodes, self.node)
        await parts.clients.cmd.delete(self.keys.sessions(self.node), self.keys.owner(self.node))

    async def _cancel_tasks(self) -> None:
        # Cancelled again if need be: a client library may swallow one cancellation in
        # the middle of a reconnect.
        for _ in range(3):
            alive = [t for t in self._tasks if not t.done()]
            if not alive:
                return
            for t in alive:
                t.cancel()
            await asyncio.wait(alive, timeout=1.0)
        log.warning("cluster: %d tasks did not stop", sum(not t.done() for t in self._tasks))

    # ------------------------------------------------------------ the loops

    async def _link(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            try:
                parts = self._open()
                self.last_sync, marks = await parts.sender.catch_up(parts.board, self.keys.replies(self.node))
            except (*ERRORS, ValueError) as e:  # ValueError: an unreadable password_file
                still_cancelled(e)
                self.contact.down(e, len(self.outbox))
                await self._reset()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            except Exception as e:  # the daemon's side failed during the catch-up: try again
                log.exception("cluster: catching up failed")
                self.contact.down(e, len(self.outbox))
                await asyncio.sleep(BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN
            self._decision_mark, parts.board.reply_mark = marks.decisions, marks.replies
            self.contact.set_up(self.last_sync)
            self._wake.set()
            self._events_wake.set()
            await self.contact.lost.wait()
            self.contact.lost.clear()
            await self._reset()

    async def _reset(self) -> None:
        """The connections died with the contact: the next attempt makes new ones."""
        if self._parts is not None:
            try:
                await asyncio.wait_for(self._parts.clients.reset(), self.config.timeout)
            except TimeoutError:
                log.info("cluster: Redis did not answer the disconnect")

    async def _run(self, step: Callable[[_Parts, int], Awaitable[None]]) -> None:
        while True:
            await self.contact.up.wait()
            gen = self.contact.gen
            try:
                await step(self._open(), gen)
            except ERRORS as e:
                still_cancelled(e)
                self.contact.fail(e, gen, len(self.outbox))
            except Exception:  # a bug here must not end the loop (nor spin it)
                log.exception("cluster: %s failed", getattr(step, "__name__", step))
                await asyncio.sleep(1.0)

    async def _send_step(self, parts: _Parts, gen: int) -> None:
        if not self.outbox:
            self._wake.clear()
            await self._wake.wait()
            return
        await parts.sender.drain()

    async def _follow_step(self, parts: _Parts, gen: int) -> None:
        streams = {self.keys.decisions: self._decision_mark, self.keys.replies(self.node): parts.board.reply_mark}
        got = await parts.remote.follow(streams, BLOCK_MS)
        if gen != self.contact.gen:
            return  # read with the marks of an older contact: the catch-up covered it
        now = self.clock()
        for name, entries in got:
            for entry_id, fields in entries:
                if name != self.keys.decisions:
                    parts.board.on_reply(entry_id, fields)
                    continue
                self._decision_mark = entry_id
                decision = parts.remote.decision(entry_id, fields)
                if decision is not None:
                    self.mirror.on_decision(decision, now)

    async def _serve_step(self, parts: _Parts, gen: int) -> None:
        if self._served_gen != gen:  # first, what an older contact left pending
            await parts.board.serve(0, pending=True)
            self._served_gen = gen
        await parts.board.serve(BLOCK_MS)

    async def _roster_step(self, parts: _Parts, gen: int) -> None:
        try:
            sessions = await self.daemon.live_sessions()
        except Exception:  # noqa: BLE001 - the daemon's failure must not stop the heartbeat
            log.exception("cluster: listing live sessions failed")
            sessions = []
        await parts.roster.publish(sessions)
        await asyncio.sleep(self.config.sessions_interval)

    async def _events_step(self, parts: _Parts, gen: int) -> None:
        if not self.shipper.buffer:
            self._events_wake.clear()
            await self._events_wake.wait()
            return
        if len(self.shipper.buffer) < BATCH:
            # Let a batch gather: one round trip per session's events, not per event,
            # would cost every new connection a few hundred µs of CPU.
            await asyncio.sleep(EVENTS_LINGER)
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

    async def request_switch(self, node: str, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        return await self.ops.request_switch(node, target, by, reason)

    async def switch_anywhere(self, target: SwitchTarget, by: str, reason: str) -> list[SwitchResult]:
        return await self.ops.switch_anywhere(target, by, reason)

    async def cluster_sessions(self) -> dict[str, Any]:
        return await self.ops.cluster_sessions()

    def follow_events(self, since: str = "$") -> AsyncIterator[dict[str, Any]]:
        return follow(self._open().clients.block, self.keys, since, self.contact.up.wait)

    def health(self) -> dict[str, Any]:
        return {**self.contact.health(), "node": self.node, "outbox": len(self.outbox),
                "outbox_evicted": self.outbox.evicted, "outbox_dropped": self.outbox.dropped,
                "events_waiting": len(self.shipper.buffer), "events_dropped": self.counters["events_dropped"],
                "remote_sources": len(self.mirror.shares), "blacklist_known": len(self.mirror.known),
                "duplicate_host": self._parts is not None and self._parts.roster.duplicate,
                "last_sync": dict(self.last_sync)}

    def stats(self) -> dict[str, Any]:
        return {"up": int(self.contact.is_up), "outbox": len(self.outbox), "outbox_dropped": self.outbox.dropped,
                "outbox_evicted": self.outbox.evicted, "remote_sources": len(self.mirror.shares),
                "counters": dict(self.counters)}
