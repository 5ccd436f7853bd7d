"""Opening a backend connection: ``tcp://``, ``unix:`` or ``exec:``."""
from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass

from ..config import Backend
from ..core.types import End
from ..intercept.transparent import open_connection_from
from ..tls.facts import Handshake
from .conns import Conn, ExecConn, Sink, StreamConn
from .proxyproto import tls_tlvs, v2_header


@dataclass(init=False)
class Peer:
    """The addresses of the client's connection, passed on to backends (one per session:
    a constructor of its own is a native one when compiled, see core/types.py)."""

    session_id: str
    src_ip: str
    src_port: int
    dest_ip: str
    dest_port: int
    tls: Handshake | None = None  # the client's TLS handshake, when honeyswitch terminated it

    def __init__(self, session_id: str, src_ip: str, src_port: int, dest_ip: str, dest_port: int,
                 tls: Handshake | None = None) -> None:
        self.session_id = session_id
        self.src_ip = src_ip
        self.src_port = src_port
        self.dest_ip = dest_ip
        self.dest_port = dest_port
        self.tls = tls


async def open_backend(
    backend: Backend, sink: Sink, end: End, peer: Peer, *, write_high: int | None = None,
    loop: asyncio.AbstractEventLoop | None = None,
) -> Conn:
    """Connect to ``backend`` with ``sink`` receiving its callbacks; raises OSError."""
    if loop is None:
        loop = asyncio.get_running_loop()
    if backend.kind == "exec":
        conn = ExecConn(sink, end, f"{end.value} {backend.argv[0]}")
        await loop.subprocess_exec(
            lambda: conn,
            *backend.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_exec_env(peer),
            start_new_session=True,  # a signal to honeyswitch's group must not hit it
        )
        if write_high is not None and (pipe := conn.proc.get_pipe_transport(0)) is not None:  # type: ignore[union-attr]
            pipe.set_write_buffer_limits(high=write_high)  # type: ignore[union-attr]
        return conn
    header = b""
    if backend.proxy_protocol == "v2":
        header = v2_header((peer.src_ip, peer.src_port), (peer.dest_ip, peer.dest_port), tls_tlvs(peer.tls))
    if backend.tls is not None:
        return await _open_tls(backend, sink, end, peer, header, write_high)
    stream = StreamConn(sink, end)
    if backend.kind == "tcp" and backend.transparent:  # the server sees the real client
        await open_connection_from(loop, lambda: stream, (peer.src_ip, 0), (backend.host, backend.port))
    elif backend.kind == "tcp":
        await loop.create_connection(lambda: stream, backend.host, backend.port)
    else:
        await loop.create_unix_connection(lambda: stream, backend.path)
    assert stream.transport is not None
    if write_high is not None:
        stream.transport.set_write_buffer_limits(high=write_high)
    if header:
        stream.write(header)
    return stream


async def _open_tls(backend: Backend, sink: Sink, end: End, peer: Peer, header: bytes,
                    write_high: int | None) -> Conn:
    """A ``tls://`` backend: connected, PROXY header (if any) sent in the clear, then
    the handshake, whose certificate check failing is a failed connect."""
    from .tlsconns import TlsBackendConn

    loop = asyncio.get_running_loop()
    conn = TlsBackendConn(sink, end, backend.tls.context, backend.tls.server_hostname, header)
    if backend.transparent:
        await open_connection_from(loop, lambda: conn, (peer.src_ip, 0), (backend.host, backend.port))
    else:
        await loop.create_connection(lambda: conn, backend.host, backend.port)
    try:
        await conn.opened
    except BaseException:
        conn.abort()
        raise
    if write_high is not None and conn.transport is not None:
        conn.transport.set_write_buffer_limits(high=write_high)
    return conn


def _exec_env(peer: Peer) -> dict[str, str]:
    """The environment of an exec backend: ours plus UCSPI-TCP style connection facts."""
    env = dict(os.environ)
    env.update(
        PROTO="TCP",
        TCPREMOTEIP=peer.src_ip,
        TCPREMOTEPORT=str(peer.src_port),
        TCPLOCALIP=peer.dest_ip,
        TCPLOCALPORT=str(peer.dest_port),
        HONEYSWITCH_SESSION=peer.session_id,
    )
    return env
