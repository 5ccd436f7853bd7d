"""The kernel takes the packets honeyswitch builds and rewrites (root): a TCP connection
made by hand from raw sockets, its SYN built by :func:`build` and its data segment an
incremental rewrite of another packet, is accepted by a real listener in a namespace,
which reads the bytes.  A segment with a wrong checksum is not."""
from __future__ import annotations

import ipaddress
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from honeyswitch.packet.headers import ACK, PSH, SYN, Packet, build, parse
from honeyswitch.packet.options import build_options
from honeyswitch.testing import netns, require

pytestmark = pytest.mark.root
ADDRS = {4: ("198.18.45.2", "198.18.45.1", "24"), 6: ("2001:2:0:45::2", "2001:2:0:45::1", "64")}


@pytest.fixture
def lab() -> Iterator[netns.Lab]:
    require.root()
    lab = netns.Lab("pa")
    try:
        yield lab
    finally:
        lab.close()


def setup(lab: netns.Lab, v: int) -> tuple[str, str, bytes, bytes]:
    mine, theirs, plen = ADDRS[v]
    a, b = lab.ns("a"), lab.ns("b")
    n = next(lab._links)
    netns.run(None, ["ip", "link", "add", f"v{n}a", "netns", a, "type", "veth", "peer", "name", f"v{n}b", "netns", b])
    for ns, iface, addr in ((a, f"v{n}a", mine), (b, f"v{n}b", theirs)):
        netns.run(ns, ["ip", "addr", "add", f"{addr}/{plen}", "dev", iface, *(["nodad"] if v == 6 else [])])
        netns.run(ns, ["ip", "link", "set", iface, "up"])
    # Our "client" is raw sockets: keep a's own stack from resetting the connection.
    netns.run(a, ["nft", "-f", "-"], stdin="table inet quiet {\n chain out {\n  type filter hook output priority 0;\n"
                                          "  tcp flags & rst == rst drop\n }\n}\n")
    return a, b, ipaddress.ip_address(mine).packed, ipaddress.ip_address(theirs).packed


def synack(rx: socket.socket, v: int, src: bytes, dst: bytes) -> Packet:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = rx.recv(65535)
        if v == 6:  # IPv6 raw sockets deliver the TCP segment alone: give it its header back
            data = struct.pack("!IHBB16s16s", 6 << 28, len(data), 6, 64, dst, src) + data
        p = parse(data)
        if p is not None and p.sport == 9000 and p.flags & SYN:
            return p
    raise TimeoutError("no SYN-ACK")


@pytest.mark.parametrize("v", [4, 6])
def test_listener_accepts_built_and_rewritten_segments(lab: netns.Lab, v: int) -> None:
    a, b, me, peer = setup(lab, v)
    family = socket.AF_INET6 if v == 6 else socket.AF_INET
    listener = netns.socket_in(b, family)
    listener.bind((ADDRS[v][1], 9000))
    listener.listen(1)
    listener.settimeout(5)
    tx = netns.socket_in(a, family, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rx = netns.socket_in(a, family, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rx.settimeout(5)
    dest = (ADDRS[v][1], 0, 0, 0) if v == 6 else (ADDRS[v][1], 0)
    isn = 123456789
    tx.sendto(build(me, peer, 40000, 9000, isn, 0, SYN, 64240,
                    build_options(mss=1400, sack_ok=True, ts=(1, 0), wscale=7)), dest)
    sa = synack(rx, v, me, peer)
    assert sa.ack == isn + 1
    tx.sendto(build(me, peer, 40000, 9000, isn + 1, sa.seq + 1, ACK, 502, build_options(ts=(2, 0))), dest)
    conn, _ = listener.accept()
    conn.settimeout(5)
    # A segment from elsewhere (other addresses, ports, numbers), rewritten in place.
    other = ipaddress.ip_address("2001:2:0:47::9" if v == 6 else "198.18.47.9").packed
    p = parse(build(other, other, 1, 2, 3, 4, ACK | PSH, 9, build_options(ts=(5, 6)), b"hello"))
    assert p is not None
    p.set_src(me, 40000)
    p.set_dst(peer, 9000)
    p.set_seq(isn + 1)
    p.set_ack(sa.seq + 1)
    p.set_window(502)
    bad = bytearray(p.copy().finish())
    bad[-1] ^= 0xFF  # one payload byte off: the checksum no longer holds
    tx.sendto(bytes(bad), dest)
    time.sleep(0.2)
    conn.setblocking(False)
    with pytest.raises(BlockingIOError):
        conn.recv(100)  # dropped by the kernel
    conn.setblocking(True)
    conn.settimeout(5)
    tx.sendto(p.finish(), dest)
    assert conn.recv(100) == b"hello"
