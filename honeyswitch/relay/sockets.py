"""Socket options the relay needs, in one place."""
from __future__ import annotations

import asyncio
import socket
import struct

_LINGER_RST = struct.pack("ii", 1, 0)


def reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST: SO_LINGER 0 makes close() send RST instead of FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]


def peer(transport: asyncio.BaseTransport) -> tuple[str, int]:
    return _addr(transport.get_extra_info("peername"))


def local(transport: asyncio.BaseTransport) -> tuple[str, int]:
    return _addr(transport.get_extra_info("sockname"))


def _addr(addr: object) -> tuple[str, int]:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]  # IPv4-mapped: report the IPv4 address
        return host, int(addr[1])
    return "", 0
