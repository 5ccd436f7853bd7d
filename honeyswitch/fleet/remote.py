"""The shared state in Redis, as this host reads and writes it: one Lua script applies
a batch of decisions (apply.lua), a few reads take a snapshot, one blocking read follows
the decision stream.  No policy here: :mod:`.sync` decides what to send and when.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..store.blacklist import normalize_ip
from .keys import Keys
from .model import BadRecord, BlacklistEntry, SourceShare, num, number
from .outbox import ADD, REMOVE, SHARE, Op
from .shares import lives_until

log = logging.getLogger(__name__)
APPLY = resources.files(__package__).joinpath("apply.lua").read_text()
BATCH = 200  # operations per script call: a few ms of Redis time at most
READ_BATCH = 500  # entries fetched per pipeline in a snapshot


@dataclass(frozen=True, slots=True)
class Outcome:
    """What Redis made of one operation (see apply.lua): status, and the entry as it
    stands in Redis when that differs from what was sent."""

    op: Op
    status: str
    entry: BlacklistEntry | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One entry of the decision stream, from another node."""

    id: bytes
    node: str
    kind: str  # ADD | REMOVE | SHARE
    ip: str
    entry: BlacklistEntry | None = None
    share: SourceShare | None = None
    at: float = 0.0
    by: str = ""


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return {_s(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


class Remote:
    def __init__(self, cmd: Any, block: Any, keys: Keys, node: str, *, half_life: float,
                 maxlen: int, tombstone_ttl: float) -> None:
        self.cmd, self.block, self.keys, self.node = cmd, block, keys, node
        self.half_life, self.maxlen, self.tombstone_ms = half_life, maxlen, int(tombstone_ttl * 1000)
        self._apply = cmd.register_script(APPLY)

    # ---------------------------------------------------------------- writes

    def _encode(self, op: Op, keys: list[str], args: list[str]) -> None:
        k = self.keys
        if op.kind == ADD:
            assert op.entry is not None
            e = op.entry.fields()
            exp_ms = "" if op.entry.expires is None else str(int(op.entry.expires * 1000))
            keys += [k.entry(op.ip), k.tombstone(op.ip)]
            args += [ADD, e["ip"], e["reason"], e["by"], e["origin"] or self.node, e["added"], e["expires"],
                     e["at"], exp_ms]
        elif op.kind == REMOVE:
            keys += [k.entry(op.ip), k.tombstone(op.ip)]
            args += [REMOVE, op.ip, num(op.at), op.by]
        else:
            assert op.share is not None
            keys.append(k.source(op.ip))
            args += [SHARE, op.ip, op.share.wire(), str(int(lives_until(op.share, self.half_life) * 1000))]

    async def apply(self, ops: list[Op], now: float) -> list[Outcome]:
        """Send ``ops`` (at most BATCH) in one script call."""
        keys = [self.keys.decisions, self.keys.blacklist, self.keys.sources]
        args = [str(int(now * 1000)), str(self.maxlen), self.node, str(self.tombstone_ms)]
        for op in ops:
            self._encode(op, keys, args)
        replies = await self._apply(keys=keys, args=args)
        return [self._outcome(op, reply) for op, reply in zip(ops, replies, strict=True)]

    @staticmethod
    def _outcome(op: Op, reply: list[Any]) -> Outcome:
        status = _s(reply[0])
        entry = None
        if status in ("same", "newer") and len(reply) > 1:
            try:
                entry = BlacklistEntry.from_fields(_pairs(reply[1]))
            except BadRecord as e:
                log.warning("cluster: bad blacklist entry in Redis for %r: %s", op.ip, e)
        return Outcome(op, status, entry)

    async def epoch(self) -> str:
        """The shared state's epoch: set by the first host to meet an empty Redis, so a
        different one means Redis lost what it had (a restart without persistence)."""
        await self.cmd.set(self.keys.epoch, secrets.token_hex(8), nx=True)
        return _s(await self.cmd.get(self.keys.epoch) or b"")

    # ---------------------------------------------------------------- reads

    async def last_decision(self) -> bytes:
        """The id of the newest decision (follow from there after a snapshot)."""
        newest = await self.cmd.xrevrange(self.keys.decisions, count=1)
        return newest[0][0] if newest else b"0-0"

    async def blacklist(self, now: float) -> dict[str, BlacklistEntry]:
        ips = await self.cmd.zrangebyscore(self.keys.blacklist, f"({int(now * 1000)}", "+inf")
        out: dict[str, BlacklistEntry] = {}
        for rows, chunk in await self._hgetall_batches([_s(ip) for ip in ips], self.keys.entry):
            for ip, row in zip(chunk, rows, strict=True):
                try:
                    entry = BlacklistEntry.from_fields(row) if row else None
                except BadRecord as e:
                    log.warning("cluster: bad blacklist entry in Redis for %r: %s", ip, e)
                    continue
                if entry is not None and entry.active(now):
                    out[entry.ip] = entry
        return out

    async def shares(self, now: float, limit: int) -> dict[str, dict[str, SourceShare]]:
        """Every node's shares of the sources that still matter (at most ``limit``
        sources, those lasting longest first)."""
        ips = await self.cmd.zrevrangebyscore(self.keys.sources, "+inf", f"({int(now * 1000)}", start=0, num=limit)
        valid = [ip for ip in (normalize_ip(_s(raw)[:64]) for raw in ips) if ip is not None]
        out: dict[str, dict[str, SourceShare]] = {}
        for rows, chunk in await self._hgetall_batches(valid, self.keys.source):
            for ip, row in zip(chunk, rows, strict=True):
                nodes = {}
                for node, raw in row.items():
                    try:
                        nodes[_s(node)] = SourceShare.from_wire(ip, raw)
                    except BadRecord as e:
                        log.warning("cluster: bad score share in Redis for %r: %s", ip, e)
                if nodes:
                    out[ip] = nodes
        return out

    async def _hgetall_batches(self, ips: list[str], key: Any) -> list[tuple[list[Any], list[str]]]:
        out = []
        for i in range(0, len(ips), READ_BATCH):
            chunk = ips[i:i + READ_BATCH]
            pipe = self.cmd.pipeline(transaction=False)
            for ip in chunk:
                pipe.hgetall(key(ip))
            out.append((await pipe.execute(), chunk))
        return out

    async def follow(self, streams: dict[str, bytes], block_ms: int, count: int = 500) -> list[tuple[str, list[Any]]]:
        """Wait up to ``block_ms`` for news on ``streams`` (name -> last id seen)."""
        got = await self.block.xread(streams, count=count, block=block_ms)
        if isinstance(got, dict):  # RESP3 answers a map
            got = list(got.items())
        return [(_s(name), entries) for name, entries in got or ()]

    def decision(self, entry_id: bytes, fields: dict[Any, Any]) -> Decision | None:
        """One decision-stream entry, or None if it is ours or malformed."""
        f = {_s(k): v for k, v in fields.items()}
        node, kind = _s(f.get("n", b"")), _s(f.get("k", b""))
        ip = normalize_ip(_s(f.get("ip", b""))[:64])
        if node == self.node or ip is None:
            return None
        try:
            if kind == ADD:
                return Decision(entry_id, node, kind, ip, entry=BlacklistEntry.from_fields(f))
            if kind == REMOVE:
                return Decision(entry_id, node, kind, ip, at=number(f.get("at")), by=_s(f.get("by", b"")))
            if kind == SHARE:
                return Decision(entry_id, node, kind, ip, share=SourceShare.from_wire(ip, f.get("d")))
        except BadRecord as e:
            log.warning("cluster: bad decision %r from %r: %s", entry_id, node, e)
        return None
