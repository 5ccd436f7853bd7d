"""Listeners: accept clients of a protected service and start a session for each."""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from ..config import ServiceConfig
from ..core.types import End
from ..intercept.transparent import transparent_listener
from ..tls.gate import TlsGate
from .conns import StreamConn

log = logging.getLogger(__name__)

# Called with the service and the new client connection; returns the session runner
# (or None when the connection was refused and closed).
Acceptor = Callable[[ServiceConfig, "ClientConn"], object]


class ClientConn(StreamConn):
    """The client's connection; it starts its session as soon as it is accepted."""

    def __init__(self, service: ServiceConfig, accept: Acceptor) -> None:
        super().__init__(None, End.CLIENT)
        self.service = service
        self._accept = accept
        self.handshake: Any = None  # a plain client has no TLS handshake (TlsClientConn has)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.sink = self._accept(self.service, self)  # type: ignore[assignment]
        if self.reading_paused:
            # uvloop starts reading an accepted connection after connection_made returns,
            # undoing a pause made inside it; pause again before the first read.
            asyncio.get_running_loop().call_soon(self._repause)

    def _repause(self) -> None:
        if self.reading_paused:
            self.pause_reading()


async def listen(
    service: ServiceConfig, accept: Acceptor, *, reuse_port: bool = False,
    socks: list[socket.socket] | None = None, tls_gate: TlsGate | None = None,
) -> list[asyncio.Server]:
    """Start a server on each of the service's listen addresses (or on ``socks``, bound
    already: a worker's share of a reuseport group, one per address).  A service with
    ``tls`` terminates its clients' TLS first (``tls_gate`` counts its handshakes)."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.Server] = []
    factory = _factory(service, accept, tls_gate)
    if socks is not None:
        for sock in socks:
            servers.append(await loop.create_server(factory, sock=sock, backlog=1024))
        return servers
    for host, port in service.listen:
        where: dict[str, Any] = {"host": host, "port": port, "reuse_address": True, "reuse_port": reuse_port}
        try:
            if service.intercept == "tproxy":  # TPROXY delivers only to transparent sockets
                where = {"sock": transparent_listener(host, port)}
            server = await loop.create_server(factory, backlog=1024, **where)
        except OSError as e:
            for s in servers:
                s.close()
            raise OSError(e.errno, f"service {service.name}: cannot listen on {host}:{port}: {e.strerror}") from None
        servers.append(server)
    return servers


def _factory(service: ServiceConfig, accept: Acceptor, gate: TlsGate | None) -> Callable[[], asyncio.Protocol]:
    if service.tls is None:
        return lambda: ClientConn(service, accept)
    from .tlsconns import TlsClientConn

    tls_gate = gate or TlsGate(lambda kind, fields: log.warning("%s: %s", kind, fields))
    return lambda: TlsClientConn(service, accept, tls_gate)


def bound_ports(servers: list[asyncio.Server]) -> list[tuple[str, int]]:
    """The addresses actually bound (port 0 in config picks a free one, for tests)."""
    out = []
    for s in servers:
        server: Any = s  # its sockets: a list on uvloop, a tuple on asyncio (compiled code checks)
        for sock in server.sockets:
            addr = sock.getsockname()
            out.append((addr[0], addr[1]) if sock.family != socket.AF_UNIX else (str(addr), 0))
    return out
