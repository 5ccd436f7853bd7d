"""``SO_REUSEPORT`` socket groups: one listening socket per worker on the same address.

The kernel hands each new connection to one socket of the group.  By default it picks
by a hash of the 4-tuple.  With ``shard="source"`` a classic BPF program attached to the
group picks by the client's address instead (``SO_ATTACH_REUSEPORT_CBPF``), so every
connection of one client reaches the same worker and per-source state (scores,
incidents, ``track by_src`` thresholds) stays in one process.  The program's result is
the index of the socket in the group, in bind order: socket *i* belongs to worker *i*.
"""
from __future__ import annotations

import ctypes
import socket
import struct

from ..intercept.transparent import make_transparent

SO_ATTACH_REUSEPORT_CBPF = 51  # asm-generic/socket.h
_SKF_NET_OFF = (-0x100000) & 0xFFFFFFFF  # loads relative to the network header

# Classic BPF opcodes (linux/filter.h)
_LD_B_ABS, _LD_W_ABS = 0x30, 0x20
_ALU_RSH_K, _ALU_MOD_K = 0x74, 0x94
_JMP_JEQ_K, _JMP_JA = 0x15, 0x05
_RET_A = 0x16


def source_program(groups: int) -> list[tuple[int, int, int, int]]:
    """The BPF program: the client's address (IPv4, or the last 32 bits of IPv6) modulo
    ``groups``.  Each instruction is ``(code, jt, jf, k)``."""
    if groups < 1:
        raise ValueError("groups must be >= 1")
    return [
        (_LD_B_ABS, 0, 0, _SKF_NET_OFF),  # A = first byte of the IP header
        (_ALU_RSH_K, 0, 0, 4),  # A = IP version
        (_JMP_JEQ_K, 0, 2, 6),  # IPv6? fall through : skip to the IPv4 load
        (_LD_W_ABS, 0, 0, _SKF_NET_OFF + 20),  # IPv6 source, bytes 12-15
        (_JMP_JA, 0, 0, 1),
        (_LD_W_ABS, 0, 0, _SKF_NET_OFF + 12),  # IPv4 source
        (_ALU_MOD_K, 0, 0, groups),
        (_RET_A, 0, 0, 0),
    ]


def attach_source_sharding(sock: socket.socket, groups: int) -> None:
    """Attach :func:`source_program` to ``sock``'s reuseport group (OSError if refused)."""
    program = source_program(groups)
    filters = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *ins) for ins in program))
    fprog = struct.pack("HL", len(program), ctypes.addressof(filters))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def bind_group(host: str, port: int, count: int, *, transparent: bool = False, shard: str = "connection",
               backlog: int = 1024) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port`` in one reuseport group.

    Port 0 picks a free port for the first socket; the others join it.  Raises OSError
    (with every socket closed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if transparent:
                make_transparent(sock)
            sock.bind((host.strip("[]"), port))
            port = sock.getsockname()[1]
            sock.listen(backlog)
            sock.setblocking(False)
        if shard == "source" and count > 1:
            attach_source_sharding(socks[0], count)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks
