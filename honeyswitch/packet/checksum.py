"""The Internet checksum (RFC 1071) of IP headers and TCP segments, in full and
incrementally (RFC 1624).

The ones' complement sum of 16-bit words equals the whole byte string read as one big
integer, modulo 0xFFFF (2**16 is 1 modulo 0xFFFF).  ``int.from_bytes`` and ``%`` run in
C, so a 1500-byte segment costs about a microsecond, far less than a Python loop over
its words.  The one ambiguity, a sum of 0 versus 0xFFFF (the two zeros of ones'
complement), does not matter for TCP: a receiver accepts either checksum.
"""
from __future__ import annotations

import struct

_PSEUDO4 = struct.Struct("!4s4sBBH")
_PSEUDO6 = struct.Struct("!16s16sIxxxB")
TCP = 6


def ones_sum(data: bytes | bytearray | memoryview) -> int:
    """The ones' complement sum of ``data`` as 16-bit big-endian words, modulo 0xFFFF
    (an odd length is padded with a zero byte, as the RFC says)."""
    n = int.from_bytes(data, "big")
    if len(data) & 1:
        n <<= 8
    return n % 0xFFFF


def finish(total: int) -> int:
    """The checksum field for a ones' complement ``total`` of everything it covers."""
    return 0xFFFF - (total % 0xFFFF)


def ip4_header(header: bytes | bytearray | memoryview) -> int:
    """The checksum of an IPv4 header whose checksum field is zero."""
    return finish(ones_sum(header))


def pseudo_header(src: bytes, dst: bytes, length: int) -> int:
    """The ones' complement sum of TCP's pseudo-header (IPv4 or IPv6 by address size)."""
    if len(src) == 4:
        return ones_sum(_PSEUDO4.pack(src, dst, 0, TCP, length))
    return ones_sum(_PSEUDO6.pack(src, dst, length, TCP))


def tcp(src: bytes, dst: bytes, segment: bytes | bytearray | memoryview) -> int:
    """The checksum of a TCP ``segment`` (header and payload) whose checksum field is
    zero, between addresses ``src`` and ``dst``."""
    return finish(pseudo_header(src, dst, len(segment)) + ones_sum(segment))


def verify_tcp(src: bytes, dst: bytes, segment: bytes | bytearray | memoryview) -> bool:
    """Whether ``segment``'s checksum field is right."""
    return (pseudo_header(src, dst, len(segment)) + ones_sum(segment)) % 0xFFFF == 0


def update(checksum: int, old_sum: int, new_sum: int) -> int:
    """RFC 1624 eqn. 3: the checksum after words summing to ``old_sum`` were replaced by
    words summing to ``new_sum`` (both ones' complement sums, as :func:`ones_sum`)."""
    # HC' = ~(~HC + ~m + m'); modulo 0xFFFF, ~x is 0xFFFF - x.
    return finish((0xFFFF - checksum) + (0xFFFF - old_sum) + new_sum)


def aligned_span(offset: int, length: int) -> tuple[int, int]:
    """The 16-bit-word aligned byte range (relative to the checksummed data's start)
    that covers ``length`` bytes at ``offset``."""
    start = offset & ~1
    end = offset + length
    return start, end + (end & 1)
