"""The outbox: local decisions on their way to Redis (sans-IO).

Every decision goes through it, whether Redis is up (it is drained at once) or down (it
waits).  It holds at most one operation per address and kind: a later blacklist add or
removal of an address replaces the one waiting, and a source's newer score share
replaces the older (shares are whole values, never increments).  So it is bounded by
the number of addresses decided about, and replaying it is idempotent.

Past ``limit`` operations, the oldest score share goes first, then the oldest blacklist
add: both are restored at the reconnect, which republishes this host's own blacklist and
scores in full (so they are *evicted*, not lost).  Only when removals alone fill it is
the oldest removal dropped: that address, if another host still lists it, comes back
here at the reconnect.  ``dropped`` counts those.
"""
from __future__ import annotations

from dataclasses import dataclass

from .model import BlacklistEntry, SourceShare

ADD, REMOVE, SHARE = "bl+", "bl-", "src"


@dataclass(frozen=True, slots=True)
class Op:
    kind: str  # ADD | REMOVE | SHARE
    ip: str
    at: float  # when it was decided
    entry: BlacklistEntry | None = None  # ADD
    share: SourceShare | None = None  # SHARE
    by: str = ""  # REMOVE: who removed it

    @classmethod
    def add(cls, entry: BlacklistEntry) -> Op:
        return cls(ADD, entry.ip, entry.at, entry=entry)

    @classmethod
    def remove(cls, ip: str, at: float, by: str) -> Op:
        return cls(REMOVE, ip, at, by=by)

    @classmethod
    def score(cls, share: SourceShare) -> Op:
        return cls(SHARE, share.ip, share.at, share=share)


class Outbox:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._bl: dict[str, Op] = {}  # ip -> ADD or REMOVE, oldest first
        self._shares: dict[str, Op] = {}  # ip -> SHARE, oldest first
        self.evicted = 0  # adds and shares pushed out (restored by the resync)
        self.dropped = 0  # removals pushed out (lost)

    def put(self, op: Op) -> None:
        table = self._shares if op.kind == SHARE else self._bl
        table.pop(op.ip, None)  # re-inserted last: it is the newest now
        table[op.ip] = op
        if len(self) > self.limit:
            self._evict()

    def _evict(self) -> None:
        if self._shares:
            del self._shares[next(iter(self._shares))]
            self.evicted += 1
            return
        for ip, op in self._bl.items():
            if op.kind == ADD:
                del self._bl[ip]
                self.evicted += 1
                return
        del self._bl[next(iter(self._bl))]
        self.dropped += 1

    def peek(self, n: int) -> list[Op]:
        """Up to ``n`` of the oldest operations, blacklist first (admission needs those)."""
        out: list[Op] = []
        for table in (self._bl, self._shares):
            for op in table.values():
                if len(out) >= n:
                    return out
                out.append(op)
        return out

    def done(self, ops: list[Op]) -> None:
        """``ops`` reached Redis; forget those not replaced by newer ones meanwhile."""
        for op in ops:
            table = self._shares if op.kind == SHARE else self._bl
            if table.get(op.ip) is op:
                del table[op.ip]

    def pending(self, ip: str) -> Op | None:
        """The blacklist operation waiting for ``ip``, if any."""
        return self._bl.get(ip)

    def pending_share(self, ip: str) -> bool:
        return ip in self._shares

    def __len__(self) -> int:
        return len(self._bl) + len(self._shares)

    def __bool__(self) -> bool:
        return bool(self._bl or self._shares)
