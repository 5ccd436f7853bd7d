"""Transcript to pcap, so Wireshark's "Follow TCP Stream" shows a switched session.

A transcript holds payloads, not packets, so packets are synthesised: classic libpcap,
LINKTYPE_RAW (IPv4/IPv6 without a link layer), with handshakes, consistent sequence and
acknowledgement numbers and valid checksums.  The session becomes two TCP conversations
from the client's real address: client <-> main and client <-> honeypot, on the address
the client connected to, with main and honeypot on distinct ports.  Client bytes go to
both while mirrored and to the honeypot alone after the ``switch`` mark; main is reset at
``switch_done``, as honeyswitch does.  History the ring dropped shows as a sequence gap.
"""
from __future__ import annotations

import array
import ipaddress
import os
import struct
import sys
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

LINKTYPE_RAW = 101
MSS = 1460
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_DEFAULT_CLIENT, _DEFAULT_SERVER = ("192.0.2.1", 40000), ("192.0.2.2", 80)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(array.array("H", data))  # native order; the sum is order-independent
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    total = ~total & 0xFFFF
    return int.from_bytes(total.to_bytes(2, sys.byteorder), "big")


def ip_packet(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"", ident: int = 0) -> bytes:
    """One IPv4 or IPv6 packet carrying one TCP segment."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0) + payload
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        pseudo = s.packed + d.packed + struct.pack("!I3xB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    if s.version == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident & 0xFFFF, 0x4000, 64, 6, 0,
                          s.packed, d.packed)
        return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + tcp
    return struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, s.packed, d.packed) + tcp


class _Pcap:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.ident = 0
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LINKTYPE_RAW))

    def packet(self, t: float, pkt: bytes) -> None:
        sec = int(t)
        usec = min(999_999, int(round((t - sec) * 1e6)))
        self.f.write(struct.pack("<IIII", sec, usec, len(pkt), len(pkt)) + pkt)


class _Conversation:
    """One synthetic TCP connection between the client and one backend."""

    def __init__(self, out: _Pcap, client: tuple[str, int], server: tuple[str, int],
                 isn: tuple[int, int], gaps: tuple[int, int]) -> None:
        self.out, self.client, self.server = out, client, server
        self.seq = [isn[0], isn[1]]  # next sequence number: [client side, server side]
        self.gaps = gaps
        self.state = "new"  # new -> open -> closed

    def _send(self, t: float, from_client: int, flags: int, payload: bytes = b"") -> None:
        a, b = (self.client, self.server) if from_client else (self.server, self.client)
        me, peer = (0, 1) if from_client else (1, 0)
        ack = self.seq[peer] if flags & ACK else 0
        self.out.ident += 1
        self.out.packet(t, ip_packet(a[0], b[0], a[1], b[1], self.seq[me], ack, flags, payload,
                                     self.out.ident))
        self.seq[me] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def open(self, t: float) -> None:
        self._send(t, 1, SYN)
        self._send(t, 0, SYN | ACK)
        self._send(t, 1, ACK)
        # Bytes the transcript's ring dropped: a gap Wireshark reports as not captured.
        self.seq[0] += self.gaps[0]
        self.seq[1] += self.gaps[1]
        self.state = "open"

    def data(self, t: float, from_client: bool, payload: bytes) -> None:
        if self.state == "new":
            self.open(t)
        if self.state != "open":
            return
        for i in range(0, len(payload), MSS):
            self._send(t, int(from_client), PSH | ACK, payload[i:i + MSS])

    def finish(self, t: float) -> None:
        if self.state == "open":
            self._send(t, 1, FIN | ACK)
            self._send(t, 0, FIN | ACK)
            self._send(t, 1, ACK)
        self.state = "closed"

    def reset(self, t: float) -> None:
        if self.state == "open":
            self._send(t, 1, RST | ACK)
        self.state = "closed"


def _addresses(meta: Mapping[str, Any]) -> tuple[tuple[str, int], str, int, int]:
    """(client, server ip, main port, honeypot port), both ends of one address family."""
    def addr(value: Any, default: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        try:
            a = ipaddress.ip_address(str(value).split("%", 1)[0])
        except ValueError:
            a = ipaddress.ip_address(default)
        return a.ipv4_mapped if a.version == 6 and a.ipv4_mapped else a

    src = addr(meta.get("src_ip"), _DEFAULT_CLIENT[0])
    dst = addr(meta.get("dest_ip"), _DEFAULT_SERVER[0])
    if src.version != dst.version:  # e.g. a v4 client reached a v6 listener: map both
        src, dst = (ipaddress.IPv6Address(f"::ffff:{a}") if a.version == 4 else a for a in (src, dst))
    sport = _port(meta.get("src_port"), _DEFAULT_CLIENT[1])
    dport = _port(meta.get("dest_port"), _DEFAULT_SERVER[1])
    main_port = _port(meta.get("main_port"), _url_port(meta.get("main"), dport))
    hp_port = _port(meta.get("honeypot_port"), _url_port(meta.get("honeypot"), main_port + 1))
    if hp_port == main_port:  # must differ, or the two conversations merge into one
        hp_port = main_port + 1 if main_port < 65535 else main_port - 1
    return (str(src), sport), str(dst), main_port, hp_port


def _port(value: Any, default: int) -> int:
    return value if isinstance(value, int) and 0 < value < 65536 else default


def _url_port(url: Any, default: int) -> int:
    if isinstance(url, str) and url.startswith("tcp://"):
        try:
            return _port(int(url.rsplit(":", 1)[1]), default)
        except ValueError:
            pass
    return default


def to_pcap(records: Iterable[Mapping[str, Any]], meta: Mapping[str, Any] | None,
            out_path: str | os.PathLike[str]) -> Path:
    """Write the transcript ``records`` (from :func:`read_transcript`) as a pcap file.

    ``meta`` is the header's meta; None takes it from the header record."""
    path = Path(out_path)
    with open(path, "wb") as f:
        write_pcap(records, meta, f)
    return path


def write_pcap(records: Iterable[Mapping[str, Any]], meta: Mapping[str, Any] | None, f: BinaryIO) -> None:
    """:func:`to_pcap` into an open binary file (the control API's download)."""
    recs = list(records)
    header = next((r for r in recs if "header" in r), {})
    if meta is None or "header" in meta:  # given the header record itself: use its meta
        meta = header.get("meta") or (meta or {}).get("meta") or {}
    dropped = header.get("dropped_bytes") or {}
    client, server_ip, main_port, hp_port = _addresses(meta)
    seed = str(meta.get("session_id") or header.get("session_id") or "")

    def isn(tag: str) -> int:  # initial sequence numbers, stable per session
        return zlib.crc32(f"{seed}/{tag}".encode())

    pcap = _Pcap(f)
    main = _Conversation(pcap, client, (server_ip, main_port), (isn("c"), isn("m")),
                         (int(dropped.get("client", 0)), int(dropped.get("main", 0))))
    hp = _Conversation(pcap, client, (server_ip, hp_port), (isn("c"), isn("h")),
                       (int(dropped.get("client", 0)), int(dropped.get("honeypot", 0))))
    _replay(recs, meta, main, hp)


def _replay(recs: list[Mapping[str, Any]], meta: Mapping[str, Any],
            main: _Conversation, hp: _Conversation) -> None:
    # A transcript is only persisted at a switch or, for a blacklisted source (direct),
    # from the start; without a switch and without main's bytes, main was never contacted.
    to_main = meta.get("state") != "direct" and any(
        r.get("mark") == "switch" or r.get("s") == "main" for r in recs)
    to_hp = True
    last = 0.0
    for rec in recs:
        t = float(rec.get("t", last))
        last = max(last, t)
        mark = rec.get("mark")
        if mark == "switch":
            to_main = False
        elif mark == "switch_done":
            main.reset(t)
        elif mark == "honeypot_dropped":
            to_hp = False
            hp.reset(t)
        elif "d" in rec:
            data, stream = rec["d"], rec.get("s")
            if stream == "client":
                if to_main:
                    main.data(t, True, data)
                if to_hp:
                    hp.data(t, True, data)
            elif stream == "main":
                main.data(t, False, data)
            elif stream == "honeypot":
                hp.data(t, False, data)
    if not to_main:
        main.reset(last)  # switched without a switch_done mark: main was reset anyway
    main.finish(last)
    hp.finish(last)
