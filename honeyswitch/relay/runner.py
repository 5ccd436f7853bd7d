"""The executor: carries out one session's core commands on real connections.

A :class:`SessionRunner` owns the three connections of a session.  asyncio callbacks
become core events, fed to the sans-IO :class:`~honeyswitch.core.session.Session`
strictly one at a time (a callback that fires while commands are running, e.g.
``pause_writing`` from inside ``write``, is queued), and the commands it returns are run
in order.  An unknown command is a bug and raises.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from ..config import ServiceConfig
from ..core.session import Session
from ..core.types import (
    AlertRaised,
    CancelTimer,
    Close,
    Command,
    Connect,
    ConnectionLost,
    DataReceived,
    Emit,
    End,
    EofReceived,
    Event,
    Opened,
    OpenFailed,
    PauseReading,
    ResumeReading,
    Send,
    SetTimer,
    Shutdown,
    State,
    TimerFired,
    WritePaused,
    WriteResumed,
)
from ..detect.base import StreamInspector
from .backends import Peer, open_backend
from .conns import Conn
from .flusher import FLUSH_BYTES, HoneypotFlusher

log = logging.getLogger(__name__)
CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
_STREAM = {end: end.value for end in End}  # transcript stream names (Enum.value is slow)


class Transcript(Protocol):
    def add(self, stream: str, data: bytes) -> None: ...
    def mark(self, note: str, **fields: Any) -> None: ...
    def persist(self) -> Any: ...
    def close(self) -> Any: ...


class LiveSession(Protocol):
    """What the daemon sees of a live session: a :class:`SessionRunner`, or packet mode's
    :class:`~honeyswitch.packet.runner.PacketRunner`.  A protocol, so compiled code
    checks no class at run time and both kinds pass."""

    id: str
    peer: Peer
    service: ServiceConfig
    session: Session
    transcript: Transcript
    started: float
    ended: float | None
    finished: bool
    last_activity: float
    event_fields: dict[str, Any] | None

    def request(self, event: Any) -> None: ...
    def terminate(self, reason: str) -> None: ...


class RelayContext(Protocol):
    """What a runner needs from the daemon around it (implemented by the app)."""

    def emit(self, event_type: str, runner: LiveSession | None, fields: dict[str, Any]) -> None: ...
    def open_transcript(self, runner: LiveSession) -> Transcript: ...
    def on_switch(self, runner: LiveSession) -> None: ...
    def on_backend_open(self, runner: LiveSession, end: End, transport: Any) -> None: ...
    def on_session_end(self, runner: LiveSession) -> None: ...


def emit_marked(ctx: RelayContext, runner: LiveSession, cmd: Emit) -> None:
    """A core ``Emit`` of either kind of session: a switch and its end are marked in the
    transcript (the switch persisted), then the event goes out."""
    kind = cmd.event_type
    if kind == "switch":
        runner.transcript.mark("switch", **cmd.fields)
        runner.transcript.persist()
        ctx.on_switch(runner)
    elif kind == "switch_done":
        runner.transcript.mark("switch_done", **cmd.fields)
    ctx.emit(kind, runner, cmd.fields)


class SessionRunner:
    """Runs one client session: its backends, timers and the core's commands."""

    def __init__(
        self,
        ctx: RelayContext,
        service: ServiceConfig,
        client: Conn,
        peer: Peer,
        *,
        direct: bool = False,
        inspector: StreamInspector | None = None,
        source_score: Callable[[], float] | None = None,
        source_threshold: float = 0.0,
        loop: asyncio.AbstractEventLoop | None = None,
        flusher: HoneypotFlusher | None = None,
    ) -> None:
        self.ctx = ctx
        self.service = service
        self.peer = peer
        self.id = peer.session_id
        self.session = Session(service.policy, direct=direct, inspector=inspector, source_score=source_score,
                               source_threshold=source_threshold)
        self.started = time.time()
        self.ended: float | None = None
        # Given by the caller that has it: get_running_loop() is a getpid() system call
        # on Python 3.11, and a session would make several.
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self.last_activity = self._loop.time()
        self.conns: dict[End, Conn] = {CLIENT: client}
        self._closed: set[End] = set()
        self._connecting: dict[End, asyncio.Task[None]] = {}
        self._timed_out: set[End] | None = None  # connects cancelled by their timeout
        # Callbacks of a backend that arrive before its connect call has returned
        # (data can follow connection_made in the same loop turn): fed after Opened.
        self._early: dict[End, list[Event]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._queue: deque[Event] = deque()
        self._busy = False
        # The honeypot's copy of client chunks held for the flusher (Session.defer_honeypot);
        # None when nothing is held (an idle session holds no list).
        self._flusher = flusher
        self._hp_held: list[bytes] | None = None
        self._hp_held_len = 0
        self._hp_due = False  # in the flusher's list
        self.finished = False
        self.event_fields: dict[str, Any] | None = None  # the context's cache of the session's event fields
        self.transcript = ctx.open_transcript(self)

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        state = self.session.state
        tls = self.peer.tls
        self.ctx.emit(
            "session_start",
            self,
            {"state": state.value, "main": self.service.main.url, "honeypot": self.service.honeypot.url,
             "mode": "proxy", "tls": None if tls is None else tls.event()},
        )
        if state is State.DIRECT:
            self.transcript.persist()
        self._run(self.session.start())
        if tls is not None:
            self._inspect_tls(tls)

    def tls_started(self, handshake: Any) -> None:
        """The client's TLS began mid-session (STARTTLS): recorded, and shown to the
        detectors as a handshake at the start would be."""
        if self.finished:
            return
        self.transcript.mark("starttls", **handshake.event())
        self.ctx.emit("starttls", self, {"tls": handshake.event()})
        self._inspect_tls(handshake)

    def _inspect_tls(self, handshake: Any) -> None:
        """Rules on the handshake (``tls.sni``, ``ja3.hash``...): their alerts go through
        the core like any alert from outside the byte stream, so one can switch the
        session before main has seen a byte of it."""
        inspect = getattr(self.session.inspector, "handshake", None)
        if inspect is None:
            return
        for alert in inspect(handshake):
            self._feed(AlertRaised(alert.score, alert.detector, alert.reason, dict(alert.details)))

    def request(self, event: Event) -> None:
        """Feed an event from outside the session's connections (switch, alert)."""
        self._feed(event)

    def terminate(self, reason: str) -> None:
        """End the session from outside (idle timeout, shutdown)."""
        if self.finished:
            return
        self.session.close_reason = reason
        self._feed(ConnectionLost(CLIENT, reset=False, reason=reason))
        self._close(CLIENT, reset=False)

    # --------------------------------------------------- asyncio callbacks (Sink)

    def on_data(self, end: End, data: bytes) -> None:
        if end in self._closed:
            return
        if self._early and end in self._early:
            self.transcript.add(_STREAM[end], data)
            self._early[end].append(DataReceived(end, data, self._loop.time()))
            return
        self.last_activity = now = self._loop.time()
        if end is CLIENT:
            # Recorded after the core has seen it: a switch this chunk triggers (inline
            # detection) is marked before it, as the chunk only went to the honeypot.
            self._feed_data(end, data, now)
            self.transcript.add("client", data)
        else:
            self.transcript.add(_STREAM[end], data)
            self._feed_data(end, data, now)

    def on_eof(self, end: End) -> None:
        if end not in self._closed:
            self._feed_or_hold(EofReceived(end))

    def on_lost(self, end: End, exc: BaseException | None) -> None:
        if end in self._closed:
            return
        reason = "" if exc is None else (str(exc) or type(exc).__name__)
        event = ConnectionLost(end, reset=exc is not None, reason=reason)
        if end in self._early:
            self._early[end].append(event)
            return
        self._closed.add(end)
        self._feed(event)

    def on_write_paused(self, end: End) -> None:
        if end not in self._closed:
            self._feed_or_hold(WritePaused(end))

    def on_write_resumed(self, end: End) -> None:
        if end not in self._closed:
            self._feed_or_hold(WriteResumed(end))

    def _feed_or_hold(self, event: Event) -> None:
        early = self._early.get(event.end)  # type: ignore[union-attr]
        if early is not None:
            early.append(event)
        else:
            self._feed(event)

    # ------------------------------------------------------------- executor

    def _feed(self, event: Event) -> None:
        if self.finished:
            return
        if self._busy:
            self._queue.append(event)  # runs after the commands under way, in order
            return
        self._execute(self.session.handle(event))

    def _feed_data(self, end: End, data: bytes, now: float) -> None:
        """:meth:`_feed` of ``DataReceived(end, data, now)``, the event built only if it
        has to wait (the hot path: one call per chunk)."""
        if self.finished:
            return
        if self._busy:
            self._queue.append(DataReceived(end, data, now))
            return
        self._execute(self.session.data(end, data, now))

    def _execute(self, commands: list[Command]) -> None:
        """Run ``commands``, then the events that came in while they ran."""
        self._busy = True
        try:
            self._run(commands)
            self._drain_queue()
        finally:
            self._busy = False

    def _drain_queue(self) -> None:
        while self._queue and not self.finished:
            self._run(self.session.handle(self._queue.popleft()))
        self._queue.clear()

    def flush_honeypot(self) -> None:
        """The flusher's call: send the honeypot what is held (a write may pause it, or
        drop it: those events are fed after, as inside any command run)."""
        self._hp_due = False
        if self._busy:
            self._send_held()
            return
        self._busy = True
        try:
            self._send_held()
            self._drain_queue()
        finally:
            self._busy = False

    def _send_held(self) -> None:
        held = self._hp_held
        if held is None:
            return
        self._hp_held, self._hp_held_len = None, 0
        conn = self.conns.get(HONEYPOT)
        if conn is not None and HONEYPOT not in self._closed:
            conn.write(held[0] if len(held) == 1 else b"".join(held))

    def _to_honeypot(self, data: bytes) -> None:
        if self._flusher is not None and self.session.defer_honeypot:
            held = self._hp_held
            if held is None:
                if len(data) >= FLUSH_BYTES:
                    self._write(HONEYPOT, data)  # bulk: nothing to batch with
                    return
                held = self._hp_held = []
                if not self._hp_due:
                    self._hp_due = True
                    self._flusher.add(self)
            held.append(data)
            self._hp_held_len += len(data)
            if self._hp_held_len >= FLUSH_BYTES:
                self._send_held()
            return
        self._send_held()  # what is held goes first, whatever follows
        self._write(HONEYPOT, data)

    def _write(self, end: End, data: bytes) -> None:
        conn = self.conns.get(end)
        if conn is not None and end not in self._closed:
            conn.write(data)

    def _run(self, commands: list[Command]) -> None:
        for i, cmd in enumerate(commands):
            kind = type(cmd)
            if kind is Send:
                if cmd.end is HONEYPOT:  # type: ignore[union-attr]
                    self._to_honeypot(cmd.data)  # type: ignore[union-attr]
                else:
                    self._write(cmd.end, cmd.data)  # type: ignore[union-attr]
            elif kind is Emit:
                self._emit(cmd)  # type: ignore[arg-type]
            elif kind is PauseReading:
                if (conn := self.conns.get(cmd.end)) is not None:  # type: ignore[union-attr]
                    conn.pause_reading()
            elif kind is ResumeReading:
                if (conn := self.conns.get(cmd.end)) is not None:  # type: ignore[union-attr]
                    conn.resume_reading()
            elif kind is SetTimer:
                self._set_timer(cmd.name, cmd.delay)  # type: ignore[union-attr]
            elif kind is CancelTimer:
                if (handle := self._timers.pop(cmd.name, None)) is not None:  # type: ignore[union-attr]
                    handle.cancel()
            elif kind is Shutdown:
                end = cmd.end  # type: ignore[union-attr]
                if end is HONEYPOT:
                    self._send_held()
                if (conn := self.conns.get(end)) is not None and not _closed_after(commands, i, end):
                    conn.write_eof()
            elif kind is Close:
                self._close(cmd.end, cmd.reset)  # type: ignore[union-attr]
            elif kind is Connect:
                self._connect(cmd.end)  # type: ignore[union-attr]
            else:
                raise TypeError(f"unknown command {cmd!r}")
        if self.session.state is State.CLOSED and not self.finished:
            self._finish()

    def _emit(self, cmd: Emit) -> None:
        if cmd.event_type == "switch":
            self._send_held()  # the honeypot serves from here: it has every byte now
        emit_marked(self.ctx, self, cmd)

    def _set_timer(self, name: str, delay: float) -> None:
        if (old := self._timers.pop(name, None)) is not None:
            old.cancel()
        self._timers[name] = self._loop.call_later(delay, self._timer_fired, name)

    def _timer_fired(self, name: str) -> None:
        self._timers.pop(name, None)
        self._feed(TimerFired(name))

    def _connect(self, end: End) -> None:
        backend = self.service.main if end is MAIN else self.service.honeypot
        self._early[end] = []
        # The runner keeps the task (in _connecting) until it is done, so it is neither
        # collected early nor needs tasks.spawn's bookkeeping; _open handles its errors.
        self._connecting[end] = self._loop.create_task(self._open(end, backend))

    def _connect_timed_out(self, end: End) -> None:
        if (task := self._connecting.get(end)) is not None:
            if self._timed_out is None:
                self._timed_out = set()
            self._timed_out.add(end)
            task.cancel()

    async def _open(self, end: End, backend: Any) -> None:
        high = self.service.policy.honeypot_buffer if end is HONEYPOT else None
        # A timer handle, not asyncio.timeout(): one call_later, no context manager.
        timer = self._loop.call_later(self.service.connect_timeout, self._connect_timed_out, end)
        try:
            conn = await open_backend(backend, self, end, self.peer, write_high=high, loop=self._loop)
        except asyncio.CancelledError:
            if self._timed_out is None or end not in self._timed_out:
                raise  # the session closed this end while it was connecting
            reason = "connect timeout"
        except (OSError, ValueError) as exc:
            reason = "connect timeout" if isinstance(exc, TimeoutError) else (str(exc) or type(exc).__name__)
        except Exception as exc:
            log.exception("session %s: connecting %s failed", self.id, end.value)
            reason = str(exc) or type(exc).__name__
        else:
            reason = ""
        finally:
            timer.cancel()
        if reason:
            self._connecting.pop(end, None)
            self._early.pop(end, None)
            self._closed.add(end)
            self._feed(OpenFailed(end, reason))
            return
        self._connecting.pop(end, None)
        early = self._early.pop(end, [])
        self.conns[end] = conn
        if self.finished or end in self._closed:
            conn.close(reset=True)
            return
        self.ctx.on_backend_open(self, end, getattr(conn, "transport", None))
        self._feed(Opened(end))
        for event in early:
            if isinstance(event, ConnectionLost):
                self._closed.add(end)
            self._feed(event)

    def _close(self, end: End, reset: bool) -> None:
        if end is HONEYPOT:
            if reset and self.session.state is State.MAIN_ONLY:
                self._hp_held, self._hp_held_len = None, 0  # dropped: it is not kept in step
            else:
                self._send_held()  # it gets what main got, before its FIN or RST
        if (task := self._connecting.pop(end, None)) is not None:
            task.cancel()
        self._early.pop(end, None)
        self._closed.add(end)
        if (conn := self.conns.get(end)) is not None:
            conn.close(reset)

    def _finish(self) -> None:
        self.finished = True
        self.ended = time.time()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for end in (MAIN, HONEYPOT, CLIENT):
            if end not in self._closed:
                self._close(end, reset=False)
        self.ctx.on_session_end(self)
        # The connections and their adapters point back at the runner: drop the runner's
        # side, so the session is freed by reference counting as its transports close,
        # not left for the cyclic garbage collector.
        self.conns = {}
        self._early.clear()
        self._queue.clear()


def _closed_after(commands: list[Command], i: int, end: End) -> bool:
    """Whether ``commands`` close ``end`` (not reset) after index ``i``: its close sends
    the FIN, so a shutdown first would only cost a system call and a loop round."""
    for cmd in commands[i + 1:]:
        if type(cmd) is Close and cmd.end is end and not cmd.reset:  # type: ignore[union-attr]
            return True
    return False
