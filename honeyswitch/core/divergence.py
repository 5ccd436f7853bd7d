"""Where two reply streams first differ, found while they arrive.

While mirroring, main and the honeypot should answer the same requests with the same
bytes (that is what ``bytes`` alignment relies on).  :class:`DivergenceFinder` compares
the two streams position by position as chunks arrive in any interleaving, keeping only
references to the unmatched part of whichever stream is ahead (bounded), and reports the
first position where they differ.
"""
from __future__ import annotations

from collections import deque

MAIN_SIDE, HONEYPOT_SIDE = 1, 2
EXCERPT = 64


class DivergenceFinder:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = True  # False once diverged, or once one side ran too far ahead
        self.position: int | None = None
        # Unmatched bytes of the leading side: whole chunks as they came (bytes compare
        # with one memcmp), views once a chunk is matched in part.
        self._lead: deque[bytes | memoryview] = deque()
        self._lead_side = 0
        self._lead_len = 0
        self._matched = 0  # bytes equal in both streams so far

    def feed(self, side: int, data: bytes) -> tuple[int, bytes, bytes] | None:
        """Add ``data`` from ``side``; returns (position, main excerpt, honeypot excerpt)
        at the first difference, once."""
        if not self.active or not data:
            return None
        lead = self._lead
        if self._lead_side != side and len(lead) == 1 and len(lead[0]) == len(data) and lead[0] == data:
            # The common case, both sides answering alike in like chunks: one memcmp.
            lead.clear()
            self._lead_len = 0
            self._matched += len(data)
            return None
        if self._lead_len == 0 or self._lead_side == side:
            self._push(side, data)
            return None
        view = memoryview(data)
        offset = 0
        while offset < len(view) and self._lead:
            first = self._lead[0]
            head = first if type(first) is memoryview else memoryview(first)
            n = min(len(head), len(view) - offset)
            if head[:n] != view[offset : offset + n]:
                return self._diverged(side, head, view[offset:], _first_difference(head[:n], view[offset : offset + n]))
            self._matched += n
            offset += n
            self._lead_len -= n
            if n == len(head):
                self._lead.popleft()
            else:
                self._lead[0] = head[n:]
        if offset < len(view):
            self._push(side, view[offset:])
        return None

    def _push(self, side: int, view: bytes | memoryview) -> None:
        self._lead_side = side
        self._lead.append(view)
        self._lead_len += len(view)
        if self._lead_len > self.limit:
            self.active = False  # too far apart to compare; not evidence of a difference
            self._lead.clear()
            self._lead_len = 0

    def _diverged(self, side: int, lead: memoryview, other: memoryview, at: int) -> tuple[int, bytes, bytes]:
        self.active = False
        self.position = self._matched + at
        lead_part, other_part = bytes(lead[at : at + EXCERPT]), bytes(other[at : at + EXCERPT])
        self._lead.clear()
        self._lead_len = 0
        if self._lead_side == MAIN_SIDE:
            return self.position, lead_part, other_part
        return self.position, other_part, lead_part


def _first_difference(a: memoryview, b: memoryview) -> int:
    """Index of the first differing byte of two equal-length views that differ."""
    lo, hi = 0, len(a)  # the difference is in a[lo:hi]
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[lo:mid] != b[lo:mid]:
            hi = mid
        else:
            lo = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return hi
