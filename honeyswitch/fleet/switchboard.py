"""Switch requests between hosts: "switch this session / client" addressed to the node
that holds it, and its answer.

A request is an entry in the addressee's command stream; the addressee reads it with a
consumer group (so an entry it took but did not acknowledge, because it lost Redis or
stopped, is delivered to it again), carries it out through ``Daemon.switch_local``,
answers in the requester's reply stream and acknowledges.  Every request carries a
deadline: one that arrives late (the requester has given up) is answered ``expired`` and
not carried out, so an old request never switches anything by surprise.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..events import make_event
from ..store.blacklist import normalize_ip
from .keys import Keys
from .model import NAME_MAX, TEXT_MAX, BadRecord, SwitchResult, SwitchTarget, number
from .ports import Daemon

log = logging.getLogger(__name__)
GROUP = "honeyswitch"
STREAM_MAXLEN = 1000
STREAM_TTL_MS = 86_400_000  # a node gone for a day leaves no command stream behind


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Switchboard:
    def __init__(self, cmd: Any, block: Any, keys: Keys, node: str, daemon: Daemon, timeout: float,
                 counters: Counter[str], clock: Callable[[], float] = time.time) -> None:
        self.cmd, self.block, self.keys, self.node, self.daemon = cmd, block, keys, node, daemon
        self.timeout, self.counters, self.clock = timeout, counters, clock
        self._waiting: dict[str, asyncio.Future[SwitchResult]] = {}
        self.reply_mark = b"0-0"  # last reply read

    # ------------------------------------------------------------ asking

    async def request(self, node: str, target: SwitchTarget, by: str, reason: str) -> SwitchResult:
        rid = secrets.token_hex(8)
        fields = {"id": rid, "from": self.node, "by": by[:TEXT_MAX], "reason": reason[:TEXT_MAX],
                  "deadline": repr(self.clock() + self.timeout)}
        if target.session_id is not None:
            fields["session_id"] = target.session_id[:NAME_MAX]
        else:
            fields["client"] = str(target.client)
        future: asyncio.Future[SwitchResult] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        key = self.keys.commands(node)
        try:
            pipe = self.cmd.pipeline(transaction=False)
            pipe.xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.pexpire(key, STREAM_TTL_MS)
            await pipe.execute()
            result = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            result = SwitchResult(node, "timeout", detail=f"no answer within {self.timeout:g}s")
        finally:
            self._waiting.pop(rid, None)
        self.counters[f"switch_sent_{result.status}"] += 1
        return result

    def on_reply(self, entry_id: bytes, fields: dict[Any, Any]) -> None:
        self.reply_mark = entry_id
        f = {_s(k): v for k, v in fields.items()}
        future = self._waiting.get(_s(f.get("id", b"")))
        if future is None or future.done():
            return  # not ours any more (timed out), or a duplicate
        try:
            future.set_result(SwitchResult.from_wire(f.get("r")))
        except BadRecord as e:
            future.set_result(SwitchResult("", "error", detail=f"bad answer: {e}"))

    def fail_waiting(self, detail: str) -> None:
        """Redis went away: the requests in flight will get no answer."""
        for future in self._waiting.values():
            if not future.done():
                future.set_result(SwitchResult("", "unreachable", detail=detail))

    # ------------------------------------------------------------ answering

    async def ensure_group(self) -> None:
        """The consumer group of our command stream (again, after Redis lost it)."""
        from redis.exceptions import ResponseError

        try:
            await self.cmd.xgroup_create(self.keys.commands(self.node), GROUP, id="0", mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def serve(self, block_ms: int, pending: bool = False) -> int:
        """Read and carry out one round of requests (``pending``: those taken before
        and not acknowledged); returns how many."""
        from redis.exceptions import ResponseError

        key = self.keys.commands(self.node)
        try:
            got = await self.block.xreadgroup(GROUP, self.node, {key: "0" if pending else ">"}, count=50,
                                              block=None if pending else block_ms)
        except ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            await self.ensure_group()  # the stream expired or Redis restarted empty
            return 0
        if isinstance(got, dict):
            got = list(got.items())
        n = 0
        for _, entries in got or ():
            for entry_id, fields in entries:
                if fields:  # a pending entry trimmed away comes back empty
                    await self._carry_out(fields)
                await self.cmd.xack(key, GROUP, entry_id)
                n += 1
        return n

    async def _carry_out(self, fields: dict[Any, Any]) -> None:
        f = {_s(k): _s(v) for k, v in fields.items()}
        rid, requester = f.get("id", "")[:NAME_MAX], f.get("from", "")[:NAME_MAX]
        by, reason = f.get("by", "cluster")[:TEXT_MAX], f.get("reason", "")[:TEXT_MAX]
        result = await self._switch(f, by, reason)
        self.counters[f"switch_served_{result.status}"] += 1
        client = f.get("client")
        self.daemon.record(make_event(
            "cluster_switch", None, session_id=f.get("session_id"), src_ip=normalize_ip(client) if client else None,
            requester=requester, request_id=rid, by=by, reason=reason, result=result.status,
            sessions=list(result.sessions)))
        if requester:
            key = self.keys.replies(requester)
            pipe = self.cmd.pipeline(transaction=False)
            pipe.xadd(key, {"id": rid, "r": result.wire()}, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.pexpire(key, STREAM_TTL_MS)
            await pipe.execute()

    async def _switch(self, f: dict[str, str], by: str, reason: str) -> SwitchResult:
        try:
            deadline = number(f.get("deadline"))
            if "session_id" in f:
                target = SwitchTarget(session_id=f["session_id"][:NAME_MAX])
            else:
                client = normalize_ip(f.get("client", ""))
                if client is None:
                    return SwitchResult(self.node, "error", detail="bad client address")
                target = SwitchTarget(client=client)
        except (BadRecord, ValueError) as e:
            return SwitchResult(self.node, "error", detail=str(e))
        if self.clock() > deadline:
            return SwitchResult(self.node, "expired", detail="arrived after its deadline")
        try:
            result = await asyncio.wait_for(self.daemon.switch_local(target, by, reason), self.timeout)
        except Exception as e:  # noqa: BLE001 - the daemon's failure is this request's answer
            log.exception("cluster: switch asked by %s failed", f.get("from"))
            return SwitchResult(self.node, "error", detail=str(e)[:TEXT_MAX])
        return SwitchResult(self.node, result.status, result.sessions, result.detail)
