"""TCP options: read them, rewrite timestamps and SACK blocks in place, clamp a SYN's.

:func:`parse_options` is lenient about what it does not know and strict about lengths:
an option whose length is missing, below 2 or past the header's end ends the parse
there (the rest is treated as padding), as Linux does.  Offsets are relative to the
start of the options, for :meth:`~.headers.Packet.set_option_bytes`.

Kinds honeyswitch acts on: MSS (2), window scale (3), SACK permitted (4), SACK (5),
timestamps (8); it refuses TCP Fast Open (34, and the experimental 254 with magic
0xF989), Multipath TCP (30) and TCP-MD5/TCP-AO signatures (19/29), see :func:`clamp_syn`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

EOL, NOP, MSS, WSCALE, SACK_OK, SACK, TIMESTAMP = 0, 1, 2, 3, 4, 5, 8
MD5, TCP_AO, MPTCP, FASTOPEN, EXPERIMENTAL = 19, 29, 30, 34, 254
FASTOPEN_MAGIC = 0xF989
SIGNED = (MD5, TCP_AO)  # a signature over the segment: no rewrite can keep it valid
_II = struct.Struct("!II")
_H = struct.Struct("!H")


@dataclass(slots=True)
class Options:
    """What a segment's options say; ``*_at`` are offsets of the option's kind byte."""

    mss: int | None = None
    wscale: int | None = None
    sack_ok: bool = False
    ts: tuple[int, int] | None = None  # (TSval, TSecr)
    ts_at: int = -1
    sack: list[tuple[int, int]] = field(default_factory=list)
    sack_at: int = -1
    sack_len: int = 0  # the SACK option's length byte
    refused: list[tuple[int, int, int]] = field(default_factory=list)  # (kind, offset, length)
    signed: bool = False


def parse_options(raw: bytes) -> Options:
    out = Options()
    i, n = 0, len(raw)
    while i < n:
        kind = raw[i]
        if kind == EOL:
            break
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= n:
            break
        length = raw[i + 1]
        if length < 2 or i + length > n:
            break
        _one(out, raw, kind, i, length)
        i += length
    return out


def _one(out: Options, raw: bytes, kind: int, i: int, length: int) -> None:
    if kind == TIMESTAMP and length == 10:
        out.ts = _II.unpack_from(raw, i + 2)
        out.ts_at = i
    elif kind == SACK and length >= 10 and (length - 2) % 8 == 0:
        out.sack = [_II.unpack_from(raw, j) for j in range(i + 2, i + length, 8)]
        out.sack_at, out.sack_len = i, length
    elif kind == MSS and length == 4:
        out.mss = _H.unpack_from(raw, i + 2)[0]
    elif kind == WSCALE and length == 3:
        out.wscale = min(raw[i + 2], 14)  # RFC 7323: larger shifts are taken as 14
    elif kind == SACK_OK and length == 2:
        out.sack_ok = True
    elif kind in (FASTOPEN, MPTCP) or (kind == EXPERIMENTAL and length >= 4
                                       and _H.unpack_from(raw, i + 2)[0] == FASTOPEN_MAGIC):
        out.refused.append((kind, i, length))
    elif kind in SIGNED:
        out.signed = True


def ts_bytes(tsval: int, tsecr: int) -> bytes:
    """The 8 value bytes of a timestamps option."""
    return _II.pack(tsval & 0xFFFFFFFF, tsecr & 0xFFFFFFFF)


def sack_bytes(blocks: list[tuple[int, int]], length: int) -> bytes:
    """A SACK option of exactly ``length`` bytes holding ``blocks`` (as many as fit),
    NOPs for the rest: rewriting never changes the header's size."""
    room = (length - 2) // 8
    blocks = blocks[:room]
    if not blocks:
        return bytes([NOP]) * length
    body = b"".join(_II.pack(a & 0xFFFFFFFF, b & 0xFFFFFFFF) for a, b in blocks)
    opt = bytes([SACK, 2 + 8 * len(blocks)]) + body
    return opt + bytes([NOP]) * (length - len(opt))


def nops(length: int) -> bytes:
    return bytes([NOP]) * length


def build_options(*, mss: int | None = None, wscale: int | None = None, sack_ok: bool = False,
                  ts: tuple[int, int] | None = None, sack: list[tuple[int, int]] | None = None) -> bytes:
    """Options in Linux's order and alignment, padded with NOPs to a multiple of 4."""
    out = b""
    if mss is not None:
        out += bytes([MSS, 4]) + _H.pack(mss)
    if sack_ok and ts is not None:
        out += bytes([SACK_OK, 2, TIMESTAMP, 10]) + ts_bytes(*ts)
    else:
        if sack_ok:
            out += bytes([NOP, NOP, SACK_OK, 2])
        if ts is not None:
            out += bytes([NOP, NOP, TIMESTAMP, 10]) + ts_bytes(*ts)
    if wscale is not None:
        out += bytes([NOP, WSCALE, 3, wscale])
    if sack:
        blocks = sack[: (40 - len(out) - 4) // 8]
        if blocks:
            out += bytes([NOP, NOP, SACK, 2 + 8 * len(blocks)])
            out += b"".join(_II.pack(a & 0xFFFFFFFF, b & 0xFFFFFFFF) for a, b in blocks)
    return out + bytes([NOP]) * (-len(out) % 4)


def clamp_syn(opts: Options) -> list[tuple[int, bytes]]:
    """(offset, NOP bytes) patches that take the refused options out of a SYN, so that
    neither main nor the honeypot agrees to a feature honeyswitch cannot carry."""
    return [(at, nops(length)) for _, at, length in opts.refused]
