"""32-bit TCP sequence numbers (RFC 1982 serial arithmetic) and the 64-bit stream
positions honeyswitch keeps instead.

A direction's *position* is the count of bytes since its initial sequence number
(``isn + 1`` is position 0).  Positions never wrap, so buffers and the session core
work with them; :func:`unwrap` turns a segment's 32-bit number back into a position
near a known one.
"""
from __future__ import annotations

from collections.abc import Iterable

MOD = 1 << 32
HALF = 1 << 31


def diff(a: int, b: int) -> int:
    """``a - b`` as a signed 32-bit distance."""
    d = (a - b) & 0xFFFFFFFF
    return d - MOD if d >= HALF else d


def lt(a: int, b: int) -> bool:
    return diff(a, b) < 0


def le(a: int, b: int) -> bool:
    return diff(a, b) <= 0


def unwrap(seq: int, isn: int, near: int) -> int:
    """The stream position of sequence number ``seq`` (ISN ``isn``), taken as the one
    closest to position ``near``."""
    return near + diff(seq, (isn + 1 + near) & 0xFFFFFFFF)


def wrap(position: int, isn: int) -> int:
    """The sequence number of stream ``position``."""
    return (isn + 1 + position) & 0xFFFFFFFF


def cut(chunks: Iterable[bytes], at: int, start: int, stop: int) -> bytes:
    """Bytes [start, stop) of a stream held as ``chunks`` from position ``at`` on."""
    out = []
    for chunk in chunks:
        lo, hi = max(start, at), min(stop, at + len(chunk))
        if lo < hi:
            out.append(chunk[lo - at:hi - at])
        at += len(chunk)
        if at >= stop:
            break
    return b"".join(out)
