"""IPv4/IPv6 + TCP packets: parse, rewrite in place, build.

:func:`parse` reads a packet as NFQUEUE hands it over (from the IP header on) into a
:class:`Packet`, a view over a ``bytearray``: only the fixed fields are read up front,
the TCP options when asked (:mod:`.options`).  The ``set_*`` methods rewrite fields in
place and keep the TCP checksum right incrementally (RFC 1624); :meth:`Packet.finish`
writes it (and IPv4's header checksum) and returns the bytes.  :func:`build` makes a
segment of honeyswitch's own (ACKs, RSTs, data it delivers itself).

Packets this module does not handle (not TCP, IP fragments, IPv6 routing headers, a
truncated or inconsistent header) parse to ``None``: the caller passes them untouched.
"""
from __future__ import annotations

import struct

from . import checksum
from .checksum import aligned_span, ones_sum

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
TCP = 6
_V6_SKIPPABLE = {0, 60}  # hop-by-hop and destination options: no bearing on TCP's checksum
_TCP_FIXED = struct.Struct("!HHIIBBHHH")  # ports, seq, ack, offset, flags, window, csum, urg
_IP4_FIXED = struct.Struct("!BBHHHBBH4s4s")
_IP6_FIXED = struct.Struct("!IHBB16s16s")
_H = struct.Struct("!H")
_I = struct.Struct("!I")


class Packet:
    """A parsed TCP packet over its own ``bytearray``; see the module docstring."""

    __slots__ = ("buf", "v6", "tcp_at", "data_at", "end", "src", "dst", "sport", "dport", "seq", "ack",
                 "flags", "window", "_old", "_new", "_ip_dirty", "_payload_dirty")

    def __init__(self, buf: bytearray, v6: bool, tcp_at: int, end: int) -> None:
        self.buf = buf
        self.v6 = v6
        self.tcp_at = tcp_at
        self.end = end
        if v6:
            self.src, self.dst = bytes(buf[8:24]), bytes(buf[24:40])
        else:
            self.src, self.dst = bytes(buf[12:16]), bytes(buf[16:20])
        (self.sport, self.dport, self.seq, self.ack, off, self.flags, self.window, _, _) = \
            _TCP_FIXED.unpack_from(buf, tcp_at)
        self.data_at = tcp_at + (off >> 4) * 4
        self._old = self._new = 0  # ones' complement sums of replaced and new words
        self._ip_dirty = False
        self._payload_dirty = False

    # ------------------------------------------------------------------ reading

    @property
    def payload_len(self) -> int:
        return self.end - self.data_at

    @property
    def payload(self) -> bytes:
        return bytes(self.buf[self.data_at:self.end])

    @property
    def options(self) -> bytes:
        return bytes(self.buf[self.tcp_at + 20:self.data_at])

    @property
    def seg_len(self) -> int:
        """Sequence space the segment takes: payload, plus one each for SYN and FIN."""
        return self.end - self.data_at + (self.flags & SYN and 1) + (self.flags & FIN and 1)

    def copy(self) -> Packet:
        """An independent packet with the same bytes and the same pending rewrites."""
        clone = Packet(bytearray(self.buf[:self.end]), self.v6, self.tcp_at, self.end)
        clone._old, clone._new = self._old, self._new
        clone._ip_dirty, clone._payload_dirty = self._ip_dirty, self._payload_dirty
        return clone

    # ---------------------------------------------------------------- rewriting

    def _patch(self, at: int, data: bytes, *, tcp_covered: bool = True) -> None:
        """Write ``data`` at buffer offset ``at``; a span inside the TCP segment is
        accounted for the incremental checksum."""
        buf = self.buf
        if tcp_covered:
            start, stop = aligned_span(at - self.tcp_at, len(data))
            start += self.tcp_at
            stop = min(stop + self.tcp_at, len(buf))
            old = ones_sum(buf[start:stop])
            buf[at:at + len(data)] = data
            self._old += old
            self._new += ones_sum(buf[start:stop])
        else:
            buf[at:at + len(data)] = data

    def _patch_address(self, at: int, new: bytes, old: bytes) -> None:
        # Addresses are in the pseudo-header, word aligned: their sums move the TCP checksum.
        self.buf[at:at + len(new)] = new
        self._old += ones_sum(old)
        self._new += ones_sum(new)
        self._ip_dirty = True

    def set_src(self, addr: bytes, port: int) -> None:
        if addr != self.src:
            self._patch_address(8 if self.v6 else 12, addr, self.src)
            self.src = addr
        if port != self.sport:
            self._patch(self.tcp_at, _H.pack(port))
            self.sport = port

    def set_dst(self, addr: bytes, port: int) -> None:
        if addr != self.dst:
            self._patch_address(24 if self.v6 else 16, addr, self.dst)
            self.dst = addr
        if port != self.dport:
            self._patch(self.tcp_at + 2, _H.pack(port))
            self.dport = port

    def set_seq(self, seq: int) -> None:
        seq &= 0xFFFFFFFF
        if seq != self.seq:
            self._patch(self.tcp_at + 4, _I.pack(seq))
            self.seq = seq

    def set_ack(self, ack: int) -> None:
        ack &= 0xFFFFFFFF
        if ack != self.ack:
            self._patch(self.tcp_at + 8, _I.pack(ack))
            self.ack = ack

    def set_flags(self, flags: int) -> None:
        if flags != self.flags:
            self._patch(self.tcp_at + 13, bytes((flags,)))
            self.flags = flags

    def set_window(self, window: int) -> None:
        window = max(0, min(window, 0xFFFF))
        if window != self.window:
            self._patch(self.tcp_at + 14, _H.pack(window))
            self.window = window

    def set_option_bytes(self, offset: int, data: bytes) -> None:
        """Overwrite ``data`` at ``offset`` within the TCP options."""
        self._patch(self.tcp_at + 20 + offset, data)

    def truncate_payload(self, keep: int) -> None:
        """Keep the first ``keep`` payload bytes (0: a bare header)."""
        keep = max(0, min(keep, self.payload_len))
        self.end = self.data_at + keep
        del self.buf[self.end:]
        self._payload_dirty = True
        self._ip_dirty = True

    def finish(self) -> bytes:
        """The packet with its lengths and checksums right."""
        buf, t = self.buf, self.tcp_at
        if self._payload_dirty:
            if self.v6:
                buf[4:6] = _H.pack(self.end - 40)
            else:
                buf[2:4] = _H.pack(self.end)
            buf[t + 16:t + 18] = b"\0\0"
            buf[t + 16:t + 18] = _H.pack(checksum.tcp(self.src, self.dst, memoryview(buf)[t:self.end]))
        elif self._new != self._old:
            old = _H.unpack_from(buf, t + 16)[0]
            buf[t + 16:t + 18] = _H.pack(checksum.update(old, self._old % 0xFFFF, self._new % 0xFFFF))
        if self._ip_dirty and not self.v6:
            ihl = (buf[0] & 0x0F) * 4
            buf[10:12] = b"\0\0"
            buf[10:12] = _H.pack(checksum.ip4_header(memoryview(buf)[:ihl]))
        self._old = self._new = 0
        self._ip_dirty = self._payload_dirty = False
        return bytes(buf[:self.end])


def parse(data: bytes | bytearray) -> Packet | None:
    """The TCP packet in ``data`` (from its IP header on), or None if it is not one this
    module handles."""
    n = len(data)
    if n < 20:
        return None
    version = data[0] >> 4
    if version == 4:
        ihl = (data[0] & 0x0F) * 4
        _, _, total, _, frag, _, proto, _, _, _ = _IP4_FIXED.unpack_from(data)
        if proto != TCP or ihl < 20 or frag & 0x3FFF or total > n or total < ihl + 20:
            return None  # not TCP, a fragment, or lengths that do not add up
        tcp_at, end, v6 = ihl, total, False
    elif version == 6:
        if n < 60:
            return None
        _, plen, nxt, _, _, _ = _IP6_FIXED.unpack_from(data)
        end = 40 + plen
        if end > n:
            return None
        tcp_at = 40
        while nxt in _V6_SKIPPABLE:
            if tcp_at + 8 > end:
                return None
            nxt, hlen = data[tcp_at], (data[tcp_at + 1] + 1) * 8
            tcp_at += hlen
        if nxt != TCP or tcp_at + 20 > end:
            return None
        v6 = True
    else:
        return None
    doff = (data[tcp_at + 12] >> 4) * 4
    if doff < 20 or tcp_at + doff > end:
        return None
    return Packet(data if isinstance(data, bytearray) else bytearray(data), v6, tcp_at, end)


def build(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
          window: int, options: bytes = b"", payload: bytes = b"", *, ttl: int = 64) -> bytes:
    """A whole TCP/IP packet of honeyswitch's own; the family follows the address size.

    ``options`` must already be padded to a multiple of 4 bytes."""
    doff = 20 + len(options)
    tcp_len = doff + len(payload)
    header = _TCP_FIXED.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (doff // 4) << 4, flags,
                             max(0, min(window, 0xFFFF)), 0, 0)
    segment = bytearray(header + options + payload)
    segment[16:18] = _H.pack(checksum.tcp(src, dst, segment))
    if len(src) == 16:
        return _IP6_FIXED.pack(6 << 28, tcp_len, TCP, ttl, src, dst) + bytes(segment)
    ip = bytearray(_IP4_FIXED.pack(0x45, 0, 20 + tcp_len, 0, 0x4000, ttl, TCP, 0, src, dst))
    ip[10:12] = _H.pack(checksum.ip4_header(ip))
    return bytes(ip) + bytes(segment)
