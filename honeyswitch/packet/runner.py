"""The executor of one packet-mode session: a :class:`~.flow.Flow`'s actions on the
event loop.

A :class:`PacketRunner` stands where the proxy mode's
:class:`~honeyswitch.relay.runner.SessionRunner` stands: the app's registry, control
API, detection hub and records see the same attributes (``id``, ``peer``, ``service``,
``session``, ``transcript`` ...), so switching, scoring, events and transcripts work as in
proxy mode.  It injects the flow's packets, runs its timers, records its streams and
reports the session's end when the core closes.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..core.types import AlertRaised, CancelTimer, Emit, SetTimer, State, SwitchRequested
from ..relay.backends import Peer
from ..relay.runner import RelayContext, emit_marked
from .flow import Flow
from .headers import Packet
from .legs import Inject, Out, Record

Injector = Callable[[bytes, bytes], None]


class PacketRunner:
    mode = "packet"

    def __init__(self, ctx: RelayContext, service: Any, flow: Flow, peer: Peer, inject: Injector,
                 on_done: Callable[[PacketRunner], None], on_closed: Callable[[PacketRunner], None]) -> None:
        self.ctx = ctx
        self.service = service
        self.flow = flow
        self.session = flow.core
        self.peer = peer
        self.id = peer.session_id
        self.started = time.time()
        self.ended: float | None = None
        self._loop = asyncio.get_running_loop()
        self.last_activity = self._loop.time()
        self.finished = False
        self.event_fields: dict[str, Any] | None = None
        self._inject = inject
        self._on_done = on_done
        self._on_closed = on_closed
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.transcript = ctx.open_transcript(self)

    # ------------------------------------------------------------------ events

    def start(self, syn: Packet) -> Out:
        state = self.session.state
        self.ctx.emit("session_start", self, {
            "state": state.value, "main": self.service.main.url, "honeypot": self.service.honeypot.url,
            "mode": "packet"})
        if state is State.DIRECT:
            self.transcript.persist()
        return self._apply(self.flow.start(syn, self._loop.time()))

    def packet(self, pkt: Packet, src: Any) -> Out:
        self.last_activity = now = self._loop.time()
        return self._apply(self.flow.packet(pkt, src, now))

    def request(self, event: SwitchRequested | AlertRaised) -> None:
        self._apply(self.flow.request(event))

    def terminate(self, reason: str) -> None:
        """Idle timeout or shutdown: the flow is reset where it must be and forgotten."""
        if self.flow.done and self.finished:
            return
        self._apply(self.flow.terminate(reason))

    def forget(self) -> None:
        """The flow leaves the table: stop its timers."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if not self.finished:
            self._finish()

    # ---------------------------------------------------------------- executor

    def _apply(self, out: Out) -> Out:
        for act in out.actions:
            kind = type(act)
            if kind is Inject:
                self._inject(act.data, act.to)
            elif kind is Record:
                self.transcript.add(act.end.value, act.data)
            elif kind is Emit:
                self._emit(act)
            elif kind is SetTimer:
                self._set_timer(act.name, act.delay)
            elif kind is CancelTimer:
                if (handle := self._timers.pop(act.name, None)) is not None:
                    handle.cancel()
            else:
                raise TypeError(f"unknown action {act!r}")
        if self.session.state is State.CLOSED and not self.finished:
            self._finish()
        if self.flow.done:
            self._on_done(self)
        return out

    def _emit(self, cmd: Emit) -> None:
        emit_marked(self.ctx, self, cmd)

    def _set_timer(self, name: str, delay: float) -> None:
        """One timer per name: setting it again replaces it."""
        if (old := self._timers.pop(name, None)) is not None:
            old.cancel()
        self._timers[name] = self._loop.call_later(delay, self._timer_fired, name)

    def _timer_fired(self, name: str) -> None:
        self._timers.pop(name, None)
        self.flow.timer_fired(name)
        self._apply(self.flow.timer(name))

    def _finish(self) -> None:
        self.finished = True
        self.ended = time.time()
        self.ctx.on_session_end(self)
        self._on_closed(self)
