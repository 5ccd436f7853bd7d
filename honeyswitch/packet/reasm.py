"""One direction's byte stream, put back together from its segments.

The detectors, the session core and the transcripts take each byte of a direction
once and in order, as the receiving application would read it.  :meth:`Reassembler.feed`
takes a segment's position and payload and returns the bytes it makes newly
contiguous; out-of-order segments wait (bounded), retransmissions add nothing.

It is also a traffic normalizer: a segment that overlaps bytes already seen with
*different* content is refused (the caller drops the packet).  Otherwise an attacker
could show honeyswitch one version of a stretch and the server's stack another (a
low-TTL first copy, overlapping fragments of a stream).  Delivered bytes are kept until
the receiver acknowledges them (:meth:`acked`), so late retransmissions are checked too.
"""
from __future__ import annotations

import bisect
from collections import deque

from .seq import cut


class Reassembler:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # out-of-order bytes held (and delivered bytes kept) at most
        self.nxt = 0  # next position to deliver
        self.fin_at: int | None = None  # position of the FIN, once seen
        self.refused = 0  # segments refused for contradicting earlier bytes
        self._ooo: list[tuple[int, bytes]] = []  # (position, data), sorted
        self._ooo_len = 0
        self._last_ooo = -1  # position of the latest out-of-order segment (SACK order)
        self._kept: deque[bytes] = deque()  # delivered, not yet acknowledged
        self._kept_from = 0
        self._kept_len = 0

    @property
    def holding(self) -> int:
        """Out-of-order bytes waiting."""
        return self._ooo_len

    @property
    def eof(self) -> bool:
        """Everything up to and including the FIN has been delivered."""
        return self.fin_at is not None and self.nxt >= self.fin_at

    def feed(self, pos: int, data: bytes, fin: bool = False) -> bytes | None:
        """The bytes this segment makes contiguous (b"" for none), or None when it
        contradicts bytes seen before (drop the packet)."""
        end = pos + len(data)
        if not self._consistent(pos, data):
            self.refused += 1
            return None
        if fin and self.fin_at is None:
            self.fin_at = end
        if end <= self.nxt or not data:
            return b""
        if pos > self.nxt:
            self._hold(pos, data)
            return b""
        out = [data[self.nxt - pos:]]
        self.nxt = end
        if self._ooo:
            self._drain(out)
        new = out[0] if len(out) == 1 else b"".join(out)
        self._keep(new)
        return new

    def acked(self, pos: int) -> None:
        """The receiver has everything before ``pos``: kept bytes before it can go."""
        kept = self._kept
        while kept and self._kept_from + len(kept[0]) <= pos:
            first = kept.popleft()
            self._kept_from += len(first)
            self._kept_len -= len(first)
        if kept and self._kept_from < pos:
            cut = pos - self._kept_from
            kept[0] = kept[0][cut:]
            self._kept_from += cut
            self._kept_len -= cut
        if not kept:
            self._kept_from = self.nxt  # kept bytes always end at nxt

    def kept(self, start: int, stop: int) -> bytes:
        """Delivered bytes in [start, stop) still kept (fewer if some were acked)."""
        start = max(start, self._kept_from)
        stop = min(stop, self.nxt)
        if start >= stop:
            return b""
        return cut(self._kept, self._kept_from, start, stop)

    def sack_blocks(self, limit: int = 4) -> list[tuple[int, int]]:
        """Held ranges as (start, end) positions, merged, the latest one first (RFC 2018)."""
        ranges: list[list[int]] = []
        for p, d in self._ooo:
            if ranges and p <= ranges[-1][1]:
                ranges[-1][1] = max(ranges[-1][1], p + len(d))
            else:
                ranges.append([p, p + len(d)])
        ranges.sort(key=lambda r: not (r[0] <= self._last_ooo < r[1]))
        return [(a, b) for a, b in ranges[:limit]]

    # ---------------------------------------------------------------- internals

    def _consistent(self, pos: int, data: bytes) -> bool:
        end = pos + len(data)
        if pos < self.nxt and self._kept:
            before = self.kept(pos, end)
            if before:
                lo = max(pos, self._kept_from)
                if data[lo - pos:lo - pos + len(before)] != before:
                    return False
        for p, d in self._ooo:
            if p >= end:
                break
            lo, hi = max(p, pos), min(p + len(d), end)
            if lo < hi and d[lo - p:hi - p] != data[lo - pos:hi - pos]:
                return False
        return True

    def _hold(self, pos: int, data: bytes) -> None:
        if self._ooo_len + len(data) > self.limit:
            return  # beyond what we hold: the sender retransmits it later
        i = bisect.bisect_left(self._ooo, (pos, data))
        if i < len(self._ooo) and self._ooo[i] == (pos, data):
            return  # a duplicate
        self._ooo.insert(i, (pos, data))
        self._ooo_len += len(data)
        self._last_ooo = pos

    def _drain(self, out: list[bytes]) -> None:
        ooo = self._ooo
        while ooo and ooo[0][0] <= self.nxt:
            p, d = ooo.pop(0)
            self._ooo_len -= len(d)
            if p + len(d) > self.nxt:
                out.append(d[self.nxt - p:])
                self.nxt = p + len(d)

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        if self._kept_len + len(data) > self.limit:
            # Unacknowledged for longer than we keep: stop checking that stretch.
            self._kept.clear()
            self._kept_len = 0
            self._kept_from = self.nxt - len(data)
        self._kept.append(data)
        self._kept_len += len(data)
