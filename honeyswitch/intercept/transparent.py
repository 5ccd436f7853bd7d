"""Transparent sockets: a listener that accepts tproxied connections for any address, and
upstream connections made *from the client's address*.

Both need ``IP_TRANSPARENT`` (CAP_NET_ADMIN): it lets a socket accept connections to,
and bind to, addresses that are not local.  A connection from the client's address only
works when the server's replies to that address route back through this host and the
firewall hands them to our socket (``socket transparent 1`` marks them for the local
policy route; see :mod:`.nft`), which is the case on a gateway in front of the servers.
"""
from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

IP_TRANSPARENT = 19  # linux/in.h
IPV6_TRANSPARENT = 75  # linux/in6.h
SOL_IPV6 = 41


def make_transparent(sock: socket.socket) -> None:
    """Set IP_TRANSPARENT / IPV6_TRANSPARENT; raises OSError (EPERM without CAP_NET_ADMIN)."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(SOL_IPV6, IPV6_TRANSPARENT, 1)
    else:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)


def transparent_listener(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket that also accepts connections tproxied to it.

    The option must be set before bind: TPROXY only delivers to transparent sockets."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # As asyncio does for its own listeners: [::] is IPv6 only, 0.0.0.0 is separate.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        make_transparent(sock)
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_connection_from(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    src: tuple[str, int],
    dst: tuple[str, int],
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Connect to ``dst`` from ``src`` (the client's ip, and port or 0 for any).

    Raises OSError; ``ValueError`` when the two addresses are of different families
    (an IPv4 client cannot appear as the source of an IPv6 connection)."""
    family = socket.AF_INET6 if ":" in src[0] else socket.AF_INET
    infos = await loop.getaddrinfo(dst[0], dst[1], family=family, type=socket.SOCK_STREAM)
    if not infos:
        raise ValueError(f"{dst[0]} has no address of the client's family")
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        make_transparent(sock)
        # Several sessions of one client may use the same source port towards two
        # backends; SO_REUSEADDR lets those binds coexist (the 4-tuples differ).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(src)
        sock.setblocking(False)
        await loop.sock_connect(sock, infos[0][4])
        transport, protocol = await loop.create_connection(protocol_factory, sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport, protocol  # type: ignore[return-value]
