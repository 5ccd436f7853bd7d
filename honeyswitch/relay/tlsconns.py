"""The relay's TLS connections: a TLS service's clients, and ``tls://`` backends.

:class:`TlsClientConn` runs the client's handshake *before* its session exists: the
ClientHello is gathered (bounded) and fingerprinted, the certificate chosen by its SNI,
and only a finished handshake becomes a session, so a handshake flood never reaches
main or the honeypot.  Failures are counted and recorded by the :class:`TlsGate` and
touch nothing else.  A STARTTLS service (``tls.starttls``) starts its session in
plaintext and upgrades the client's side when it asks (:mod:`honeyswitch.tls.starttls`).

:class:`TlsBackendConn` is a backend connection that re-encrypts: its ``opened``
future resolves once the handshake (and certificate check) is done.
"""
from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

from ..core.types import End
from ..tls.conn import TlsStream
from ..tls.facts import Handshake
from ..tls.gate import TlsGate
from ..tls.hello import ClientHello, HelloError, HelloReader
from ..tls.starttls import StartTls
from . import sockets
from .conns import Sink

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..config import ServiceConfig

# A fatal no_application_protocol alert (RFC 7301 3.2), sent in the clear before any
# ServerHello when a client offers ALPN protocols of which we speak none (h2 only).
ALERT_NO_APPLICATION_PROTOCOL = b"\x15\x03\x03\x00\x02\x02\x78"


class TlsClientConn(TlsStream):
    """A client of a TLS service; its session starts when its handshake is done."""

    def __init__(self, service: ServiceConfig, accept: Callable[[ServiceConfig, Any], object],
                 gate: TlsGate) -> None:
        super().__init__(None, End.CLIENT)
        self.service = service
        self.tls = gate.current(service.name) or service.tls  # reloaded certificates
        self._accept = accept
        self.gate = gate
        self.hello: ClientHello | None = None
        self.handshake: Handshake | None = None
        self.peer = ("", 0)
        self._reader: HelloReader | None = None
        self._gathered = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._admitted = False
        self._hold = False  # STARTTLS: the upgrade was answered; plaintext writes wait for TLS
        self.starttls = StartTls(self.tls.starttls) if self.tls.starttls else None

    @property
    def tls_facts(self) -> dict[str, Any] | None:
        return None if self.handshake is None else self.handshake.event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.peer = sockets.peer(transport)
        if self.starttls is None:
            self._begin()
            return
        self.sink = self._accept(self.service, self)  # type: ignore[assignment]
        if self.reading_paused:  # uvloop starts reading after connection_made: pause again
            asyncio.get_running_loop().call_soon(self._repause)

    def _repause(self) -> None:
        if self.reading_paused:
            self.pause_reading()

    def _begin(self) -> None:
        if not self.gate.admit(self.service.name, self.tls.max_handshakes):
            self._fail("limit", "too many handshakes in progress")
            return
        self._admitted = True
        self._reader = HelloReader()
        self._timer = asyncio.get_running_loop().call_later(self.tls.handshake_timeout, self._timed_out)

    def _end(self, ok: bool) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._admitted:
            self._admitted = False
            self.gate.finished(self.service.name, ok)

    # -------------------------------------------------------- before the handshake

    def plain_received(self, data: bytes) -> None:
        if self._reader is None:
            self._starttls_phase(data)
            return
        self._gathered += data
        try:
            hello = self._reader.feed(data)
        except HelloError as e:
            self._fail("hello", e.reason)
            return
        if hello is None:
            return
        self.hello, self._reader = hello, None
        offered = {p.decode("latin-1") for p in hello.alpn}
        if self.tls.alpn and offered and not offered & set(self.tls.alpn):
            assert self.transport is not None
            self.transport.write(ALERT_NO_APPLICATION_PROTOCOL)
            self._fail("alpn", "client offers only " + ",".join(sorted(offered))[:100])
            return
        data, self._gathered = bytes(self._gathered), bytearray()
        self.start_tls(self.tls.context_for(hello.sni), server_side=True, data=data)

    def _starttls_phase(self, data: bytes) -> None:
        assert self.starttls is not None
        step = self.starttls.client_bytes(data)
        if step.forward and self.sink is not None:
            self.sink.on_data(self.end, step.forward)
        if step.upgrade and not self._closed:
            assert self.transport is not None
            self.transport.write(step.reply)
            self._hold = True
            self._begin()

    def write(self, data: bytes) -> None:
        if self.starttls is not None and not self.starttls.rewrite_done:
            data = self.starttls.server_bytes(data)
            if not data:
                return
        if self._hold and self.ssl is None:
            self.hold(data)
            return
        super().write(data)

    # ------------------------------------------------------------------- outcome

    def handshake_done(self) -> None:
        self._end(ok=True)
        assert self.ssl is not None and self.hello is not None
        cipher = self.ssl.cipher()
        self.handshake = Handshake.of(self.hello, self.ssl.version(), cipher[0] if cipher else None,
                                      self.ssl.selected_alpn_protocol())
        if self.starttls is not None:
            self.starttls.tls_active = True
            started = getattr(self.sink, "tls_started", None)
            if started is not None:
                started(self.handshake)
            return
        self.sink = self._accept(self.service, self)  # type: ignore[assignment]

    def handshake_failed(self, reason: str) -> None:
        self._fail("handshake", reason)

    def _protocol_error(self, exc: BaseException) -> None:
        """A broken record after the handshake: counted; the session ends with it as
        its reason (``session_end``)."""
        self.gate.bump(self.service.name, "protocol")
        super()._protocol_error(exc)

    def _timed_out(self) -> None:
        self._timer = None
        self._fail("timeout", f"no TLS handshake within {self.tls.handshake_timeout:g} s")

    def eof_received(self) -> bool:
        if self._reader is not None:
            self._fail("closed", "client closed before its ClientHello was complete")
            return False
        return super().eof_received()

    def closed_before_tls(self, exc: BaseException | None) -> None:
        self._fail("closed", "client closed during the handshake" if exc is None else f"client reset ({exc})")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._admitted:  # a STARTTLS session lost while upgrading
            self._end(ok=False)
            self.gate.failed(self.service.name, "closed", "client closed during the handshake", self.peer, self.hello)
        super().connection_lost(exc)

    def _fail(self, kind: str, reason: str) -> None:
        if self._closed:
            return
        self._end(ok=False)
        self._reader = None
        self._gathered = bytearray()
        self.gate.failed(self.service.name, kind, reason, self.peer, self.hello)
        if kind in ("timeout", "limit"):
            self.abort()  # RST: free the socket at once
        else:
            self._closed = True
            if self.transport is not None:
                self.transport.close()  # after OpenSSL's alert has gone out
        if self.sink is not None:  # a STARTTLS session: it ends with its client's TLS
            self.sink.on_lost(self.end, ConnectionError(f"TLS {kind}: {reason}"))


class TlsBackendConn(TlsStream):
    """A ``tls://`` backend; ``opened`` is done when its handshake is."""

    def __init__(self, sink: Sink, end: End, context: ssl.SSLContext, server_hostname: str | None,
                 preamble: bytes = b"") -> None:
        super().__init__(sink, end)
        self._context = context
        self._hostname = server_hostname
        self._preamble = preamble  # a PROXY v2 header goes before the TLS
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._preamble:
            self.transport.write(self._preamble)  # type: ignore[union-attr]
        self.start_tls(self._context, server_side=False, server_hostname=self._hostname)

    def handshake_done(self) -> None:
        if not self.opened.done():
            self.opened.set_result(None)

    def handshake_failed(self, reason: str) -> None:
        self.abort()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"TLS: {reason}"))

    def closed_before_tls(self, exc: BaseException | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("TLS: closed during the handshake"))
