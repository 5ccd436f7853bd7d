"""TCP reassembly of captured traffic to one server port, split into client requests.

Frames (Ethernet with VLAN tags, Linux cooked v1/v2, BSD loopback, raw IP) are decoded to
IPv4/IPv6 + TCP.  Each flow to ``port`` keeps the next expected sequence number of each
direction; retransmitted bytes are trimmed, early segments wait (bounded) until the gap
fills, and a gap that never fills is skipped.  In-order bytes go to the flow's
:class:`RequestSplitter`, so a request ends where the server replies.  Bounded
everywhere: ``max_flows`` live flows (the oldest is flushed when full), ``MAX_EARLY``
waiting segments per direction, and the splitter's per-request cap.
"""
from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .requests import DEFAULT_CAP, Direction, Request, RequestSplitter

MAX_EARLY = 64
FlowKey = tuple[bytes, int, bytes, int]  # client ip, client port, server ip, server port
SYN, FIN, RST = 0x02, 0x01, 0x04


@dataclass(frozen=True, slots=True)
class Segment:
    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    flags: int
    payload: bytes


def link_payload(linktype: int, frame: bytes) -> bytes | None:
    """The IP packet inside a link-layer frame, or None for other link types/ethertypes."""
    if linktype == 1:  # Ethernet, with any 802.1Q/802.1ad tags
        off, etype = 12, 0
        while off + 2 <= len(frame):
            etype = struct.unpack_from("!H", frame, off)[0]
            if etype not in (0x8100, 0x88A8):
                break
            off += 4
        return frame[off + 2:] if etype in (0x0800, 0x86DD) else None
    if linktype in (0, 108):  # BSD loopback: 4-byte address family
        return frame[4:]
    if linktype in (101, 12, 228, 229):  # raw IP / IPv4 / IPv6
        return frame
    if linktype == 113:  # Linux cooked v1
        return frame[16:]
    if linktype == 276:  # Linux cooked v2
        return frame[20:]
    return None


def parse_tcp(packet: bytes) -> Segment | None:
    """Decode IPv4 (unfragmented) or IPv6 (no extension headers) carrying TCP."""
    if len(packet) < 20:
        return None
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0x0F) * 4
        total = struct.unpack_from("!H", packet, 2)[0]
        frag = struct.unpack_from("!H", packet, 6)[0]
        if packet[9] != 6 or ihl < 20 or frag & 0x3FFF:
            return None
        src, dst, body = packet[12:16], packet[16:20], packet[ihl:max(ihl, min(total, len(packet)))]
    elif version == 6 and len(packet) >= 40:
        if packet[6] != 6:
            return None
        plen = struct.unpack_from("!H", packet, 4)[0]
        src, dst, body = packet[8:24], packet[24:40], packet[40:40 + plen]
    else:
        return None
    if len(body) < 20:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", body, 0)
    doff = (body[12] >> 4) * 4
    if doff < 20 or doff > len(body):
        return None
    return Segment(src, sport, dst, dport, seq, body[13], body[doff:])


@dataclass(slots=True)
class _Half:
    next_seq: int | None = None
    early: dict[int, bytes] = field(default_factory=dict)

    def accept(self, seg: Segment) -> list[bytes]:
        """In-order bytes this segment makes available (possibly none)."""
        if seg.flags & SYN:
            self.next_seq = (seg.seq + 1) & 0xFFFFFFFF
            return []
        if not seg.payload:
            return []
        if self.next_seq is None:
            self.next_seq = seg.seq
        base = self.next_seq
        self.early[seg.seq] = seg.payload
        if len(self.early) > MAX_EARLY:  # a gap that will not fill: skip to the nearest
            base = min(self.early, key=lambda s: (s - base) & 0xFFFFFFFF)
        self.next_seq, out = _drain(self.early, base)
        return out


def _drain(early: dict[int, bytes], next_seq: int) -> tuple[int, list[bytes]]:
    """Deliver waiting segments that continue the stream at ``next_seq``; drop old ones."""
    out: list[bytes] = []
    progressed = True
    while progressed and early:
        progressed = False
        for seq in list(early):
            done = (next_seq - seq) & 0xFFFFFFFF  # bytes of this segment already delivered
            if done >= 0x80000000:
                continue  # still in the future
            data = early.pop(seq)
            if done < len(data):
                out.append(data[done:])
                next_seq = (next_seq + len(data) - done) & 0xFFFFFFFF
                progressed = True
    return next_seq, out


@dataclass(slots=True)
class _Flow:
    splitter: RequestSplitter
    halves: dict[Direction, _Half] = field(default_factory=lambda: {"client": _Half(), "server": _Half()})


def requests_from_frames(frames: Iterable[tuple[int, bytes]], port: int, cap: int = DEFAULT_CAP,
                         max_flows: int = 10000) -> Iterator[Request]:
    """Client requests to ``port`` from captured frames, in order of completion."""
    flows: OrderedDict[FlowKey, _Flow] = OrderedDict()
    for linktype, frame in frames:
        packet = link_payload(linktype, frame)
        seg = parse_tcp(packet) if packet is not None else None
        if seg is None or port not in (seg.sport, seg.dport) or seg.sport == seg.dport:
            continue
        direction: Direction = "client" if seg.dport == port else "server"
        key = (seg.src, seg.sport, seg.dst, seg.dport) if direction == "client" else (seg.dst, seg.dport, seg.src, seg.sport)
        flow = flows.get(key)
        if flow is None:
            if len(flows) >= max_flows:
                yield from flows.popitem(last=False)[1].splitter.end()
            flow = flows[key] = _Flow(RequestSplitter(cap))
        for data in flow.halves[direction].accept(seg):
            yield from flow.splitter.feed(direction, data)
        if seg.flags & (FIN | RST):
            yield from flow.splitter.end()
    for flow in flows.values():
        yield from flow.splitter.end()
