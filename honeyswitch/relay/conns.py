"""Connection adapters: one per end of a session, all with the same small surface.

Each adapter turns asyncio callbacks into calls on its :class:`Sink` (the session
runner) and carries out the runner's writes, half-closes, resets and read pauses.
TCP and unix sockets share :class:`StreamConn`; an ``exec:`` backend is a process whose
stdin/stdout are the stream (:class:`ExecConn`, as inetd runs a service).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from mypy_extensions import mypyc_attr

from ..core.types import End
from . import sockets

log = logging.getLogger(__name__)
STDERR_LINE_MAX = 1024  # a backend's stderr is logged in bounded, escaped lines
EXEC_GRACE = 2.0  # seconds an exec backend has to exit after EOF before it is killed
LINGER = 2.0  # seconds a closed honeypot connection drains before it is closed for good


class Sink(Protocol):
    def on_data(self, end: End, data: bytes) -> None: ...
    def on_eof(self, end: End) -> None: ...
    def on_lost(self, end: End, exc: BaseException | None) -> None: ...
    def on_write_paused(self, end: End) -> None: ...
    def on_write_resumed(self, end: End) -> None: ...


class Conn(Protocol):
    def write(self, data: bytes) -> None: ...
    def write_eof(self) -> None: ...
    def close(self, reset: bool) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class AcceptedConn(Conn, Protocol):
    """A client's connection as the acceptor gets it: a plain :class:`StreamConn`, or a
    TLS one (:mod:`honeyswitch.relay.tlsconns`) once its handshake is done."""

    transport: asyncio.Transport | None
    handshake: Any  # honeyswitch.tls.handshake.Handshake of a TLS client, else None


@mypyc_attr(allow_interpreted_subclasses=True)  # the TLS connections (honeyswitch.tls.conn)
class FlowControl:
    """Write-buffer callbacks to the sink and read pauses on the transport, shared by
    the plain stream connection and the TLS one (:mod:`honeyswitch.tls.conn`)."""

    sink: Sink | None
    end: End
    transport: asyncio.Transport | None
    reading_paused: bool  # what the session wants

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.on_write_paused(self.end)

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.on_write_resumed(self.end)

    def pause_reading(self) -> None:
        self.reading_paused = True
        t = self.transport
        if t is not None and not t.is_closing():
            t.pause_reading()

    def resume_reading(self) -> None:
        self.reading_paused = False
        t = self.transport
        if t is not None and not t.is_closing():
            t.resume_reading()


@mypyc_attr(allow_interpreted_subclasses=True)  # the listener's ClientConn
class StreamConn(FlowControl, asyncio.Protocol):
    """A TCP or unix stream connection (the client's, or a backend's)."""

    def __init__(self, sink: Sink | None, end: End) -> None:
        self.sink = sink
        self.end = end
        self.transport: asyncio.Transport | None = None
        self._closed = False
        self.reading_paused = False  # what the session wants

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop and asyncio both set TCP_NODELAY on every TCP transport they make
        # (tests/relay/test_mirror.py checks it): no setsockopt of our own per connection.
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.sink is not None:
            self.sink.on_data(self.end, data)

    def eof_received(self) -> bool:
        if self.sink is not None:
            self.sink.on_eof(self.end)
        return self.sink is not None  # keep our sending side open (half-close is the peer's
        # choice), unless we are only draining a closed connection (see close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self.sink is not None:
            self.sink.on_lost(self.end, exc)

    # ------------------------------------------------------------------ commands

    def write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def write_eof(self) -> None:
        t = self.transport
        if t is not None and not t.is_closing() and t.can_write_eof():
            t.write_eof()

    def close(self, reset: bool) -> None:
        t = self.transport
        if t is None or self._closed:
            return
        self._closed = True
        if reset:
            sockets.reset(t)
        elif self.end is End.HONEYPOT and t.can_write_eof():
            self._drain(t)
        else:
            t.close()

    def _drain(self, t: asyncio.Transport) -> None:
        """Close a honeypot gracefully: half-close, then read and drop its last replies
        until it closes (at most LINGER seconds).  Closing with its replies unread would
        make our kernel answer with a RST, and a honeypot that lags behind main would
        lose the last commands it was sent (its state would differ from main's)."""
        self.sink = None  # nothing more reaches the session, which may be over
        t.write_eof()
        t.resume_reading()
        asyncio.get_running_loop().call_later(LINGER, t.close)


class ExecConn(asyncio.SubprocessProtocol):
    """A backend program started for one session, the stream on its stdin/stdout."""

    def __init__(self, sink: Sink, end: End, label: str) -> None:
        self.sink = sink
        self.end = end
        self.label = label
        self.proc: asyncio.SubprocessTransport | None = None
        self._stderr = bytearray()
        self._eof_sent = False
        self._stdout_done = False
        self._lost = False
        self._kill_handle: asyncio.TimerHandle | None = None
        self._exit_handle: asyncio.TimerHandle | None = None  # an exit seen before stdout's EOF

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.proc = transport  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.sink.on_data(self.end, data)
        else:
            self._log_stderr(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1 and not self._stdout_done:
            self._stdout_done = True
            self.sink.on_eof(self.end)
            if self._exit_handle is not None:
                self._exit_handle.cancel()
                self._exited()

    def process_exited(self) -> None:
        if self._stderr:
            self._log_stderr(b"\n")
        if self._kill_handle is not None:
            self._kill_handle.cancel()
        if self._stdout_done or self._lost:
            self._exited()
            return
        # The loop can report the exit before the last of stdout and its EOF: the program's
        # end comes after them (or after EXEC_GRACE, should a child keep stdout open), so a
        # program that said goodbye and exited is an EOF to the client, not a failure.
        self._exit_handle = asyncio.get_running_loop().call_later(EXEC_GRACE, self._exited)

    def _exited(self) -> None:
        self._exit_handle = None
        code = self.proc.get_returncode() if self.proc is not None else None
        if not self._lost:
            self._lost = True
            exc = None if code == 0 else ConnectionError(f"{self.label} exited with status {code}")
            self.sink.on_lost(self.end, exc)
        if self.proc is not None:
            self.proc.close()  # reaped: release pipes

    def pause_writing(self) -> None:
        self.sink.on_write_paused(self.end)

    def resume_writing(self) -> None:
        self.sink.on_write_resumed(self.end)

    def _log_stderr(self, data: bytes) -> None:
        self._stderr += data
        while b"\n" in self._stderr or len(self._stderr) > STDERR_LINE_MAX:
            line, sep, rest = self._stderr.partition(b"\n")
            if not sep:
                line, rest = self._stderr[:STDERR_LINE_MAX], self._stderr[STDERR_LINE_MAX:]
            self._stderr = bytearray(rest)
            if line.strip():
                text = bytes(line[:STDERR_LINE_MAX]).decode("utf-8", "backslashreplace")
                log.warning("%s stderr: %s", self.label, text.encode("unicode_escape").decode())

    # ------------------------------------------------------------------ commands

    def _stdin(self) -> asyncio.WriteTransport | None:
        if self.proc is None or self._eof_sent:
            return None
        pipe = self.proc.get_pipe_transport(0)
        return pipe if pipe is not None and not pipe.is_closing() else None  # type: ignore[return-value]

    def write(self, data: bytes) -> None:
        if (pipe := self._stdin()) is not None:
            pipe.write(data)

    def write_eof(self) -> None:
        if (pipe := self._stdin()) is not None:
            self._eof_sent = True
            pipe.close()  # flushes, then closes: the program sees EOF on stdin

    def close(self, reset: bool) -> None:
        """End the program: at once for a reset, else EOF and a grace period."""
        proc = self.proc
        if proc is None or proc.get_returncode() is not None:
            return
        self._lost = True  # the session asked for it: not a backend failure
        if reset:
            self._kill()
            return
        self.write_eof()
        loop = asyncio.get_running_loop()
        self._kill_handle = loop.call_later(EXEC_GRACE, self._kill)

    def _kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.get_returncode() is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass

    def _pipe(self, fd: int) -> asyncio.ReadTransport | None:
        if self.proc is None:
            return None
        return self.proc.get_pipe_transport(fd)  # type: ignore[return-value]

    def pause_reading(self) -> None:
        if (pipe := self._pipe(1)) is not None and pipe.is_reading():
            pipe.pause_reading()

    def resume_reading(self) -> None:
        if (pipe := self._pipe(1)) is not None and not pipe.is_reading():
            pipe.resume_reading()
