"""A TLS session over a TCP transport, with the relay's connection surface.

:class:`TlsStream` is an asyncio protocol on the plain TCP transport: ciphertext goes
through an ``ssl.SSLObject`` with memory BIOs, plaintext goes to its :class:`Sink`
(the session runner) exactly as a :class:`~honeyswitch.relay.conns.StreamConn`'s bytes
do, and the runner's writes, half-closes, resets and read pauses work the same.  The
session core never knows a byte was encrypted.

Why our own BIO pump and not the event loop's ``start_tls``: the fingerprints need the
ClientHello as sent, before OpenSSL reads it, and STARTTLS needs TLS to begin at a byte
boundary inside a plaintext stream; ``bench/tls_handshake.py`` measured both ways
(README "TLS services").  Half-close maps to TLS as it should: a backend's EOF becomes
``close_notify`` then FIN; a peer's ``close_notify`` (or a bare FIN) is its EOF.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from typing import Any

from ..core.types import End
from ..relay import sockets
from ..relay.conns import FlowControl, Sink

log = logging.getLogger(__name__)
READ_SIZE = 256 << 10
PENDING_MAX = 1 << 20  # plaintext written before the handshake is done (STARTTLS), at most

_CLOSED_AFTER_NOTIFY = (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE)


def describe(exc: BaseException) -> str:
    """A short, stable text for a TLS error (OpenSSL's reason, not its file and line)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return (exc.reason or exc.__class__.__name__).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


class TlsStream(FlowControl, asyncio.Protocol):
    """One TLS connection (either side) whose plaintext feeds ``sink``."""

    def __init__(self, sink: Sink | None, end: End) -> None:
        self.sink = sink
        self.end = end
        self.transport: asyncio.Transport | None = None
        self.ssl: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.established = False
        self.reading_paused = False
        self._closed = False  # closed by us, or the connection is gone
        self._shut = False  # our close_notify is sent
        self._peer_eof = False
        self._pending: list[bytes] = []  # plaintext waiting for the handshake
        self._pending_len = 0

    # ------------------------------------------------------------ hooks (override)

    def plain_received(self, data: bytes) -> None:
        """Bytes that arrived before TLS started (STARTTLS, the hello being gathered)."""
        if self.sink is not None:
            self.sink.on_data(self.end, data)

    def handshake_done(self) -> None: ...

    def handshake_failed(self, reason: str) -> None:
        self.abort()

    def closed_before_tls(self, exc: BaseException | None) -> None: ...

    # --------------------------------------------------------------- TLS itself

    def start_tls(self, context: ssl.SSLContext, *, server_side: bool, server_hostname: str | None = None,
                  data: bytes = b"") -> None:
        self.ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side,
                                    server_hostname=server_hostname)
        if data:
            self._incoming.write(data)
        self._pump()

    def _pump(self) -> None:
        obj = self.ssl
        assert obj is not None
        if not self.established:
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except (ssl.SSLError, ssl.CertificateError, ValueError) as e:
                self._flush()  # OpenSSL's alert, so the peer knows why
                self.handshake_failed(describe(e))
                return
            self.established = True
            self._flush()
            pending, self._pending, self._pending_len = self._pending, [], 0
            for data in pending:
                self.write(data)
            self.handshake_done()
            if self._closed:
                return
        self._read(obj)

    def _read(self, obj: ssl.SSLObject) -> None:
        chunks: list[bytes] = []
        eof = False
        error: BaseException | None = None
        while True:
            try:
                chunk = obj.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                eof = True
                break
            except ssl.SSLError as e:
                error = e
                break
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
        self._flush()  # tickets, key updates, alerts
        sink = self.sink
        if chunks and sink is not None and not self._closed:
            sink.on_data(self.end, chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if error is not None:
            self._protocol_error(error)
        elif eof:
            self._got_eof()

    def _flush(self) -> None:
        if self._outgoing.pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(self._outgoing.read())

    def _got_eof(self) -> None:
        if not self._peer_eof:
            self._peer_eof = True
            if self.sink is not None and not self._closed:
                self.sink.on_eof(self.end)

    def _protocol_error(self, exc: BaseException) -> None:
        log.debug("%s: TLS error: %s", self.end.value, describe(exc))
        self.abort()
        if self.sink is not None:
            self.sink.on_lost(self.end, ConnectionError(f"TLS: {describe(exc)}"))

    def facts(self) -> dict[str, Any]:
        """The negotiated version, cipher and ALPN (after the handshake)."""
        obj = self.ssl
        if obj is None or not self.established:
            return {}
        cipher = obj.cipher()
        return {"version": obj.version(), "cipher": cipher[0] if cipher else None,
                "alpn": obj.selected_alpn_protocol()}

    # ---------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self.ssl is None:
            self.plain_received(data)
            return
        self._incoming.write(data)
        self._pump()

    def eof_received(self) -> bool:
        if self.ssl is not None and not self.established:
            self.handshake_failed("connection closed during the handshake")
            return False
        self._got_eof()  # a FIN without close_notify: an EOF all the same
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        was_closed, self._closed = self._closed, True
        if self._shut and isinstance(exc, OSError) and exc.errno in _CLOSED_AFTER_NOTIFY:
            # Our close_notify was unread when the peer closed its socket, so its kernel
            # answered with a RST (seen as a reset, or as ENOTCONN/EPIPE by the shutdown
            # after it): a normal close, not a reset to pass on (the honeypot would lose
            # what it has not read yet).
            exc = None
        if self.established or (self.ssl is None and self.sink is not None):
            if self.sink is not None:
                self.sink.on_lost(self.end, exc)
        elif not was_closed:
            self.closed_before_tls(exc)

    # ------------------------------------------------------------ runner commands

    def write(self, data: bytes) -> None:
        t = self.transport
        if t is None or self._closed or self._shut or t.is_closing():
            return
        if self.ssl is None:
            t.write(data)  # the plaintext phase of a STARTTLS service
            return
        if not self.established:
            self.hold(data)
            return
        try:
            self.ssl.write(data)
        except ssl.SSLError as e:
            self._protocol_error(e)
            return
        self._flush()

    def hold(self, data: bytes) -> None:
        """Keep plaintext for after the handshake (bounded)."""
        self._pending.append(data)
        self._pending_len += len(data)
        if self._pending_len > PENDING_MAX:
            self.handshake_failed("too much data waiting for the handshake")

    def write_eof(self) -> None:
        t = self.transport
        if t is None or self._closed or self._shut or t.is_closing():
            return
        self._send_close_notify()
        if t.can_write_eof():
            t.write_eof()

    def _send_close_notify(self) -> None:
        if self.ssl is None or not self.established or self._shut:
            return
        self._shut = True
        try:
            self.ssl.unwrap()
        except ssl.SSLError:
            pass  # WantRead: the peer's close_notify is not in yet; we do not wait for it
        self._flush()

    def close(self, reset: bool) -> None:
        t = self.transport
        if t is None or self._closed:
            return
        self._closed = True
        if reset:
            sockets.reset(t)
            return
        self._send_close_notify()
        t.close()

    def abort(self) -> None:
        """Drop the connection at once (RST), whatever its state."""
        t = self.transport
        self._closed = True
        if t is not None and not t.is_closing():
            sockets.reset(t)
