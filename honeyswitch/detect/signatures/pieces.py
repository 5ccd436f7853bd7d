"""Which prefilter literals each piece of a chunk holds.

The stream inspector verifies a chunk in *pieces* of half a window (a chunk larger than
the window cannot be verified in one go: a literal seen early would have slid out of
the window by the end).  A piece's prefilter *region* is the piece plus up to
``overlap`` bytes before it (the end of the window as it stood), so a literal split
across pieces or chunks is found.

Scanning every region on its own costs one database call and one copy per piece.
:func:`place_occurrences` instead takes every occurrence that one scan of the whole
chunk reported and puts each in the pieces whose region holds it: the same sets the
per-piece scans give (:func:`scan_pieces`, kept for prefilters that cannot report
occurrences, or when there are too many of them to be worth a callback each).

Coordinates are offsets in the chunk (``data``); the window's tail ``tail`` (the
``Layout.tail`` last bytes of the window) sits at offsets ``-len(tail) .. -1``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Layout:
    """How a chunk of ``size`` bytes is cut, given the window before it."""

    size: int  # bytes in the chunk
    step: int  # piece length (the last piece may be shorter)
    window: int  # window limit
    overlap: int  # bytes of window rescanned before each piece
    held: int  # bytes in the window before the chunk

    @property
    def count(self) -> int:
        return -(-self.size // self.step)

    @property
    def tail(self) -> int:
        """Bytes of window before the chunk that piece 0's region covers."""
        return min(self.overlap, self.held)

    def start(self, k: int) -> int:
        return k * self.step

    def stop(self, k: int) -> int:
        return min(self.size, (k + 1) * self.step)

    def region_start(self, k: int) -> int:
        """Where piece ``k``'s prefilter region begins (negative: in the old window)."""
        ps = k * self.step
        return ps - min(self.overlap, self.window, self.held + ps)


def place_occurrences(layout: Layout, occurrences: Iterable[tuple[int, int]],
                      lengths: Sequence[int]) -> list[list[int]]:
    """For each piece, the literal ids with an occurrence inside its region.

    ``occurrences`` are ``(literal id, end offset)`` pairs, in any order and possibly
    repeated; ``lengths[id]`` is the literal's length.
    """
    count, step = layout.count, layout.step
    seen: list[set[int]] = [set() for _ in range(count)]
    for ident, end in occurrences:
        pos = end - lengths[ident]
        j = (end - 1) // step if end > 0 else 0  # the piece the occurrence ends in
        # it also counts for later pieces whose region still reaches back to it
        while j < count and layout.region_start(j) <= pos:
            seen[j].add(ident)
            j += 1
    return [list(s) for s in seen]


def scan_pieces(layout: Layout, tail: bytes, data: bytes,
                scan: Callable[[bytes], Iterable[int]]) -> list[list[int]]:
    """The same sets, from one ``scan`` (ids of the literals in some bytes) per region."""
    out: list[list[int]] = []
    head: bytes | None = None
    for k in range(layout.count):
        rs, pe = layout.region_start(k), layout.stop(k)
        if rs >= 0:
            region = data[rs:pe]
        else:
            if head is None:
                head = tail + data[: min(layout.size, layout.overlap + layout.step)]
            region = head[len(tail) + rs : len(tail) + pe]
        out.append(list(scan(region)))
    return out
