"""What an operator asks of the whole cluster through any host: switch a session
wherever it lives, switch a client on every host, list every host's sessions.

These are the only calls that wait for Redis, each bounded by ``timeout`` or
``request_timeout``; without contact they answer at once, from the local state
(``unreachable``, or the last listings marked stale).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .contact import ERRORS, Contact
from .model import SwitchResult, SwitchTarget
from .ports import Daemon
from .roster import Roster
from .switchboard import Switchboard

OTHERS = "*"  # the node of a result that stands for every other host (none could be asked)


class Operations:
    def __init__(self, node: str, daemon: Daemon, contact: Contact, board: Switchboard | None,
                 roster: Roster | None, outbox: Callable[[], int]) -> None:
        self.node, self.daemon, self.contact = node, daemon, contact
        self.board, self.roster, self._outbox = board, roster, outbox

    def _fail(self, exc: BaseException, gen: int) -> None:
        self.contact.fail(exc, gen, self._outbox())

    async def request_switch(self, node: str, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        if node == self.node:
            r = await self.daemon.switch_local(target, by, reason)
            return SwitchResult(self.node, r.status, r.sessions, r.detail)
        if not self.contact.is_up or self.board is None or self.roster is None:
            return SwitchResult(node, "unreachable", detail=f"Redis is {self.contact.state}")
        gen = self.contact.gen
        try:
            if node not in await self.roster.live_nodes():
                return SwitchResult(node, "unreachable", detail="no such live host")
            return await self.board.request(node, target, by, reason)
        except ERRORS as e:
            self._fail(e, gen)
            return SwitchResult(node, "unreachable", detail=str(e)[:200])

    async def switch_anywhere(self, target: SwitchTarget, by: str, reason: str) -> list[SwitchResult]:
        local = await self.request_switch(self.node, target, by, reason)
        if not self.contact.is_up or self.roster is None:
            if target.session_id is not None and local.status != "not_found":
                return [local]
            # The other hosts could not be asked: say so, rather than "nowhere".
            return [local, SwitchResult(OTHERS, "unreachable", detail=f"Redis is {self.contact.state}")]
        if target.session_id is not None:
            if local.status != "not_found":
                return [local]
            await self.cluster_sessions()  # refresh where every session is
            node = self.roster.locate(target.session_id)
            return [local] if node is None else [await self.request_switch(node, target, by, reason)]
        gen = self.contact.gen
        try:
            nodes = [n for n in await self.roster.live_nodes() if n != self.node]
        except ERRORS as e:
            self._fail(e, gen)
            return [local]
        return [local, *await asyncio.gather(*(self.request_switch(n, target, by, reason) for n in nodes))]

    async def cluster_sessions(self) -> dict[str, Any]:
        local = await self.daemon.live_sessions()
        if self.roster is None:
            return {"sessions": [{**s, "host": self.node} for s in local], "hosts": {}, "redis": self.contact.state}
        listings, stale, gen = self.roster.cache, not self.contact.is_up, self.contact.gen
        if not stale:
            try:
                listings = await self.roster.read()
            except ERRORS as e:
                self._fail(e, gen)
                stale = True
        return {**self.roster.view(local, listings, stale), "redis": self.contact.state}
