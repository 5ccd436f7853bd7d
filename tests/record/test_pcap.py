"""Transcript -> pcap, read back with a small independent pcap/IP/TCP parser."""
from __future__ import annotations

import ipaddress
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

from honeyswitch.record.transcripts import TranscriptStore, read_transcript, to_pcap

META = {"session_id": "s1", "service": "web", "src_ip": "198.51.100.7", "src_port": 40000,
        "dest_ip": "203.0.113.1", "dest_port": 80, "main": "tcp://127.0.0.1:8080",
        "honeypot": "tcp://127.0.0.1:8081", "state": "mirror"}
SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10


class Seg(NamedTuple):
    t: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    ack: int
    flags: int
    data: bytes


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def read_pcap(path: Path) -> list[Seg]:
    raw = path.read_bytes()
    magic, major, minor, _, _, _, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 101)
    segs, off = [], 24
    while off < len(raw):
        sec, usec, incl, orig = struct.unpack("<IIII", raw[off:off + 16])
        assert incl == orig
        pkt = raw[off + 16:off + 16 + incl]
        off += 16 + incl
        segs.append(_segment(sec + usec / 1e6, pkt))
    return segs


def _segment(t: float, pkt: bytes) -> Seg:
    if pkt[0] >> 4 == 4:
        ihl = (pkt[0] & 15) * 4
        assert struct.unpack("!H", pkt[2:4])[0] == len(pkt) and pkt[9] == 6
        assert _sum16(pkt[:ihl]) == 0xFFFF, "IPv4 header checksum"
        src, dst, tcp = pkt[12:16], pkt[16:20], pkt[ihl:]
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        assert pkt[0] >> 4 == 6 and pkt[6] == 6
        assert struct.unpack("!H", pkt[4:6])[0] == len(pkt) - 40
        src, dst, tcp = pkt[8:24], pkt[24:40], pkt[40:]
        pseudo = src + dst + struct.pack("!I3xB", len(tcp), 6)
    assert _sum16(pseudo + tcp) == 0xFFFF, "TCP checksum"
    sport, dport, seq, ack, doff, flags = struct.unpack("!HHIIBB", tcp[:14])
    a, b = str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst))
    return Seg(t, (a, sport), (b, dport), seq, ack, flags, tcp[(doff >> 4) * 4:])


def streams(segs: list[Seg]) -> dict[tuple[Any, Any], list[Seg]]:
    by: dict[tuple[Any, Any], list[Seg]] = defaultdict(list)
    for s in segs:
        by[(s.src, s.dst)].append(s)
    return by


def check_conversation(segs: list[Seg], client: tuple[str, int], server: tuple[str, int]) -> tuple[bytes, bytes]:
    """Checks handshake and sequence/ack consistency; returns (client data, server data)."""
    conv = [s for s in segs if {s.src, s.dst} == {client, server}]
    assert conv[0].flags == SYN and conv[0].src == client
    assert conv[1].flags == SYN | ACK and conv[1].ack == conv[0].seq + 1
    nxt = {client: conv[0].seq + 1, server: conv[1].seq + 1}
    data = {client: b"", server: b""}
    for s in conv[2:]:
        peer = server if s.src == client else client
        assert s.seq == nxt[s.src] or (s.data and s.seq > nxt[s.src]), "no overlap, gaps only forward"
        if s.flags & ACK:
            assert s.ack == nxt[peer], "acknowledges all the peer has sent"
        nxt[s.src] = s.seq + len(s.data) + (1 if s.flags & FIN else 0)
        data[s.src] += s.data
    return data[client], data[server]


def _transcript(tmp_path: Path, meta: dict[str, Any], script: list[tuple[str, Any]], history: int = 1 << 20) -> list[dict[str, Any]]:
    store = TranscriptStore(tmp_path / "tr", history, 1 << 24)
    tr = store.open(meta["session_id"], meta)
    for kind, value in script:
        if kind == "persist":
            tr.persist()
        elif kind == "mark":
            tr.mark(value)
        else:
            tr.add(kind, value)
    path = tr.close()
    store.close()
    assert path is not None
    return list(read_transcript(path))


SWITCHED = [
    ("client", b"GET /a HTTP/1.1\r\n\r\n"), ("main", b"HTTP/1.1 200 OK\r\n\r\nreal"),
    ("honeypot", b"HTTP/1.1 200 OK\r\n\r\nfake"), ("mark", "switch"), ("persist", None),
    ("mark", "switch_done"), ("client", b"GET /etc/passwd HTTP/1.1\r\n\r\n"),
    ("honeypot", b"HTTP/1.1 200 OK\r\n\r\n" + b"root:x:0:0\n" * 400),  # several segments
]


def test_switched_session_is_two_conversations(tmp_path: Path) -> None:
    recs = _transcript(tmp_path, META, SWITCHED)
    out = to_pcap(recs, recs[0]["meta"], tmp_path / "s1.pcap")
    segs = read_pcap(out)
    client = ("198.51.100.7", 40000)
    main, hp = ("203.0.113.1", 8080), ("203.0.113.1", 8081)
    assert {frozenset((s.src, s.dst)) for s in segs} == {frozenset((client, main)), frozenset((client, hp))}
    c2m, m2c = check_conversation(segs, client, main)
    assert c2m == b"GET /a HTTP/1.1\r\n\r\n"  # after the switch the client talks to the honeypot only
    assert m2c == b"HTTP/1.1 200 OK\r\n\r\nreal"
    c2h, h2c = check_conversation(segs, client, hp)
    assert c2h == b"GET /a HTTP/1.1\r\n\r\nGET /etc/passwd HTTP/1.1\r\n\r\n"
    assert h2c == b"HTTP/1.1 200 OK\r\n\r\nfake" + b"HTTP/1.1 200 OK\r\n\r\n" + b"root:x:0:0\n" * 400
    assert max(len(s.data) for s in segs) <= 1460
    main_segs = [s for s in segs if main in (s.src, s.dst)]
    assert main_segs[-1].flags & RST and main_segs[-1].src == client  # main was reset
    hp_segs = [s for s in segs if hp in (s.src, s.dst)]
    assert [s.flags & (FIN | RST) for s in hp_segs[-3:]] == [FIN, FIN, 0]
    assert [s.t for s in segs] == sorted(s.t for s in segs)


def test_header_record_as_meta_and_default_ports(tmp_path: Path) -> None:
    meta = {**META, "main": "unix:/run/main.sock", "honeypot": "exec:/bin/cat"}
    recs = _transcript(tmp_path, meta, SWITCHED[:4] + [("persist", None)])
    segs = read_pcap(to_pcap(recs, recs[0], tmp_path / "x.pcap"))  # the CLI passes the header
    ports = {s.dst[1] for s in segs if s.src[0] == "198.51.100.7"}
    assert ports == {80, 81}  # main on the port the client used, the honeypot distinct


def test_ipv6_session(tmp_path: Path) -> None:
    meta = {**META, "src_ip": "2001:db8::7", "dest_ip": "2001:db8::1"}
    recs = _transcript(tmp_path, meta, SWITCHED)
    segs = read_pcap(to_pcap(recs, None, tmp_path / "v6.pcap"))
    c2h, _ = check_conversation(segs, ("2001:db8::7", 40000), ("2001:db8::1", 8081))
    assert c2h.endswith(b"/etc/passwd HTTP/1.1\r\n\r\n")


def test_direct_session_has_no_main_conversation(tmp_path: Path) -> None:
    meta = {**META, "state": "direct"}
    recs = _transcript(tmp_path, meta, [("persist", None), ("client", b"hello"), ("honeypot", b"welcome")])
    segs = read_pcap(to_pcap(recs, None, tmp_path / "d.pcap"))
    assert {s.dst[1] for s in segs if s.src[0] == "198.51.100.7"} == {8081}
    assert check_conversation(segs, ("198.51.100.7", 40000), ("203.0.113.1", 8081)) == (b"hello", b"welcome")


def test_dropped_history_is_a_sequence_gap(tmp_path: Path) -> None:
    history = 2 * (100 + 48)
    script = [("client", b"a" * 100), ("client", b"b" * 100), ("client", b"c" * 100),
              ("mark", "switch"), ("persist", None)]
    recs = _transcript(tmp_path, META, script, history=history)
    assert recs[0]["dropped_bytes"]["client"] >= 100
    segs = read_pcap(to_pcap(recs, None, tmp_path / "g.pcap"))
    to_hp = [s for s in segs if s.dst == ("203.0.113.1", 8081)]
    syn, first_data = to_hp[0], next(s for s in to_hp if s.data)
    assert first_data.seq - (syn.seq + 1) == recs[0]["dropped_bytes"]["client"]
