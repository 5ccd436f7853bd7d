"""Minimal readers for classic pcap and pcapng capture files (training input only).

Yields ``(linktype, frame)`` for each captured packet.  Classic pcap: both byte orders,
microsecond and nanosecond magics.  pcapng: section headers of either byte order,
interface descriptions (for the link type), enhanced and simple packet blocks; every
other block is skipped.  Captures may be hostile: block and record lengths are checked
against the file and against ``MAX_RECORD``, and a truncated tail ends the iteration
with a ``ValueError`` naming the offset.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

MAX_RECORD = 256 << 10  # no sane packet record or block is larger
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",  # microseconds
    b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">",  # nanoseconds
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


def read_frames(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Packets of a pcap or pcapng stream as ``(linktype, frame bytes)``."""
    magic = fh.read(4)
    if magic in PCAP_MAGICS:
        yield from _classic(fh, PCAP_MAGICS[magic])
    elif magic == PCAPNG_SHB:
        yield from _pcapng(fh, magic)
    else:
        raise ValueError("not a pcap or pcapng file (unknown magic)")


def _read_exact(fh: BinaryIO, n: int, what: str) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise ValueError(f"truncated capture: short {what} at offset {fh.tell()}")
    return data


def _classic(fh: BinaryIO, endian: str) -> Iterator[tuple[int, bytes]]:
    header = _read_exact(fh, 20, "file header")
    linktype = struct.unpack(endian + "HHiIII", header)[5] & 0x0FFFFFFF
    while True:
        rec = fh.read(16)
        if not rec:
            return
        if len(rec) < 16:
            raise ValueError(f"truncated capture: short record header at offset {fh.tell()}")
        _, _, incl, _ = struct.unpack(endian + "IIII", rec)
        if incl > MAX_RECORD:
            raise ValueError(f"packet record of {incl} bytes at offset {fh.tell()} is implausible")
        yield linktype, _read_exact(fh, incl, "packet")


def _pcapng(fh: BinaryIO, first: bytes) -> Iterator[tuple[int, bytes]]:
    endian = "<"
    links: list[int] = []  # link type of each interface of the current section
    btype_raw = first
    while btype_raw:
        if len(btype_raw) < 4:
            raise ValueError(f"truncated capture: short block header at offset {fh.tell()}")
        length_raw = _read_exact(fh, 4, "block length")
        if btype_raw == PCAPNG_SHB:
            bom = _read_exact(fh, 4, "byte-order magic")
            endian = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}.get(bom, "")
            if not endian:
                raise ValueError("pcapng: bad byte-order magic")
            links = []
            _block_body(fh, length_raw, endian, already=4)
        else:
            btype, = struct.unpack(endian + "I", btype_raw)
            frame = _block_frame(btype, _block_body(fh, length_raw, endian), endian, links)
            if frame is not None:
                yield frame
        btype_raw = fh.read(4)


def _block_body(fh: BinaryIO, length_raw: bytes, endian: str, already: int = 0) -> bytes:
    total, = struct.unpack(endian + "I", length_raw)
    if total < 12 or total % 4 or total > MAX_RECORD:
        raise ValueError(f"pcapng: bad block length {total} at offset {fh.tell()}")
    body = _read_exact(fh, total - 12 - already, "block")
    trailer = _read_exact(fh, 4, "block trailer")
    if struct.unpack(endian + "I", trailer)[0] != total:
        raise ValueError(f"pcapng: block length mismatch at offset {fh.tell()}")
    return body


def _block_frame(btype: int, body: bytes, endian: str, links: list[int]) -> tuple[int, bytes] | None:
    if btype == 1 and len(body) >= 8:  # interface description
        links.append(struct.unpack(endian + "H", body[:2])[0])
    elif btype == 6 and len(body) >= 20:  # enhanced packet
        iface, _, _, caplen, _ = struct.unpack(endian + "IIIII", body[:20])
        if iface >= len(links) or caplen > len(body) - 20:
            raise ValueError("pcapng: enhanced packet with bad interface or length")
        return links[iface], body[20:20 + caplen]
    elif btype == 3 and len(body) >= 4 and links:  # simple packet
        orig, = struct.unpack(endian + "I", body[:4])
        return links[0], body[4:4 + min(orig, len(body) - 4)]
    return None
