"""The session state machine: mirroring, switching and alignment without any I/O.

See DESIGN.md "Session states".  A :class:`Session` is fed events and returns commands.
Three ends take part: the client, main (the real server) and the honeypot.  Which end
*serves* the client (its replies reach the client) and whether the honeypot *shadows*
main (receives the client's bytes, its replies recorded and discarded) is what the state
decides:

=========== ======== ===========
state       serving  shadow
=========== ======== ===========
MIRROR      main     honeypot
MAIN_ONLY   main     -
SWITCHING   main     (honeypot, quiet alignment: client bytes are held)
HONEYPOT    honeypot -
DIRECT      honeypot -
=========== ======== ===========

Alignment at the switch: the client has received ``main_sent`` bytes from main and the
honeypot has produced ``hp_received``.  ``bytes`` forwards honeypot output from position
``main_sent`` on (the honeypot's output beyond that is kept, bounded, while mirroring);
``quiet`` holds the client's bytes, lets main finish its reply and discards honeypot
output until both have been silent for ``quiet_time``, then hands over, so no reply is
torn whatever the honeypot says.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..detect.base import Alert, StreamInspector
from .replies import ReplyStreams
from .types import (
    AlertRaised,
    Align,
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
    NoHoneypotPolicy,
    Opened,
    OpenFailed,
    PauseReading,
    ResumeReading,
    Send,
    SetTimer,
    Shutdown,
    State,
    SwitchRequested,
    TimerFired,
    WritePaused,
    WriteResumed,
)

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
C_: Final = 1  # an end's bit in the session's sets of ends
M_: Final = 2
H_: Final = 4
_BIT = {CLIENT: C_, MAIN: M_, HONEYPOT: H_}
_INDEX = {CLIENT: 0, MAIN: 1, HONEYPOT: 2}
# Why reading an end is paused (bits): main or the honeypot still connecting, client
# bytes held by a quiet switch, the honeypot or main not taking the client's bytes, the
# client not taking the serving end's.
BY_CONNECT: Final = 1
BY_HOLD: Final = 2
BY_HONEYPOT: Final = 4
BY_MAIN: Final = 8
BY_CLIENT: Final = 16
BY_SWITCH: Final = 32  # main, while a bytes switch waits for the honeypot to catch up
QUIET_TIMER = "quiet"
DEADLINE_TIMER = "switch_deadline"
ANSWERS_TIMER = "honeypot_answers"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Per-service knobs of the state machine (validated by :mod:`honeyswitch.config`)."""

    align: Align = Align.BYTES
    switch_threshold: float = 100.0
    no_honeypot: NoHoneypotPolicy = NoHoneypotPolicy.RESET
    # Bytes that may queue for, or run ahead of main in, the honeypot before it is
    # dropped for the session (MIRROR -> MAIN_ONLY): main's client never waits on it.
    honeypot_buffer: int = 4 << 20
    # Client bytes held during a quiet switch before the client is paused.
    hold_limit: int = 1 << 20
    quiet_time: float = 0.2
    quiet_max: float = 3.0
    # Detector alerts over the threshold record "would_switch" instead of switching
    # (for tuning false positives); operators and signals still switch.
    dry_run: bool = False


class Session:
    """One client connection and its backends, as a state machine."""

    def __init__(
        self,
        policy: SessionPolicy,
        *,
        direct: bool = False,
        inspector: StreamInspector | None = None,
        source_score: Callable[[], float] | None = None,
        source_threshold: float = 0.0,
    ) -> None:
        self.policy = policy
        self.state = State.DIRECT if direct else State.MIRROR
        self.inspector = inspector
        # The client address's decayed score from earlier alerts (its other sessions,
        # and this one's), and the score at which the source is blacklisted.  A tool
        # that opens one connection per request never gathers a high session score, but
        # its source does: the request that carries the source over its threshold is
        # treated as the blacklisted source's, and goes to the honeypot, not to main.
        self.source_score = source_score if source_threshold > 0 else None
        self.source_threshold = source_threshold
        self.score = 0.0
        self.main_sent = 0  # main's bytes forwarded to the client
        self.hp_received = 0  # honeypot bytes received, any state
        self.client_received = 0  # client bytes received
        self.switched_by: str | None = None
        self._would_switch = False  # dry run: "would_switch" recorded once
        self.replies = ReplyStreams(
            policy.honeypot_buffer, policy.quiet_time, compare=policy.align is Align.BYTES and not direct
        )
        self.close_reason = ""
        # Sets of ends as bit masks (C_ | M_ | H_): a session holds many, builds them at
        # every connection and asks them for every chunk.
        self._open = 0
        self._connecting = 0
        self._eof_from = 0
        self._shut = 0
        self._lost = 0
        self._write_paused = 0
        # Why reading each end is paused (CONNECT | HOLD | ...), by _INDEX[end].
        self._paused = [0, 0, 0]
        self._skip = 0  # honeypot bytes to discard after a bytes switch
        # The inspector sees the server stream the client sees, each byte once: main's
        # bytes, then the honeypot's from the position it has not seen in main's version.
        self._main_inspected = 0
        self._inspect_hp_from = 0
        # Client bytes waiting for the honeypot connection, and held in SWITCHING.
        self._pending_hp: list[bytes] = []
        self._pending_hp_len = 0
        self._pending_hp_eof = False
        # The client finished while the honeypot was still connecting: the session
        # waits for it (not the client) to take the session's bytes, then ends.
        self._lingering = False
        # ... and the client and main finished while the honeypot, compared byte for
        # byte, had still not said all main said (its copy came late, batched): the
        # session waits for its answers (quiet_max at most), to record them whole.
        self._awaiting_answers = False
        # Client bytes that arrived before main's connection was up.  Reading the client
        # is paused until then, but a transport may already hold a chunk it has read.
        self._pending_main: list[bytes] = []
        self._pending_main_eof = False
        self._held: list[bytes] = []
        self._held_len = 0
        # A bytes switch waiting (in SWITCHING) for the honeypot's output to reach main's
        # position, compared on the way, before it hands over.
        self._catching_up = False

    # ------------------------------------------------------------------ public API

    @property
    def serving(self) -> End | None:
        if self.state in (State.MIRROR, State.MAIN_ONLY, State.SWITCHING):
            return MAIN
        if self.state in (State.HONEYPOT, State.DIRECT):
            return HONEYPOT
        return None

    @property
    def defer_honeypot(self) -> bool:
        """Whether the relay may hold the honeypot's copy of the client's bytes for a
        while and send several chunks at once (fewer system calls and wake-ups).

        True while mirrored with the reply streams compared byte for byte: the
        honeypot's copy is not on the client's path, and its late answers still count
        as the turns they are (:mod:`.replies`).  The relay sends what it holds before
        any other command towards the honeypot, and once this turns False (a switch,
        a divergence), so the honeypot always gets the client's bytes whole and in
        order."""
        return self.state is State.MIRROR and self.replies.by_position

    @property
    def reached_honeypot(self) -> bool:
        """Whether the honeypot has served (or is serving) this client."""
        return self.state in (State.HONEYPOT, State.DIRECT) or self.switched_by is not None

    def start(self) -> list[Command]:
        out: list[Command] = []
        self._pause(CLIENT, BY_CONNECT, out)
        if self.state is State.DIRECT:
            self._connect(HONEYPOT, out)
        else:
            self._connect(MAIN, out)
            self._connect(HONEYPOT, out)
        return out

    def handle(self, event: Event) -> list[Command]:
        out: list[Command] = []
        if self.state is State.CLOSED:
            return out
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"unknown event {event!r}")
        handler(self, event, out)
        return out

    def data(self, end: End, data: bytes, at: float = 0.0) -> list[Command]:
        """``handle(DataReceived(end, data, at))`` without building the event: the
        relay's call for every chunk."""
        out: list[Command] = []
        if self.state is not State.CLOSED:
            self._data(end, data, at, out)
        return out

    # --------------------------------------------------------------------- data

    def _on_data(self, ev: DataReceived, out: list[Command]) -> None:
        self._data(ev.end, ev.data, ev.at, out)

    def _data(self, end: End, data: bytes, at: float, out: list[Command]) -> None:
        if end is CLIENT:
            self._client_data(data, out)
        elif end is MAIN:
            self._main_data(data, out)
        else:
            self._honeypot_data(data, at, out)

    def _client_data(self, data: bytes, out: list[Command]) -> None:
        self.client_received += len(data)
        if self.state is State.MIRROR:
            self.replies.client_spoke()
        if self.inspector is not None:
            # Inline: inspected before forwarding, so a request that crosses the
            # threshold is routed by the state the alert leads to.
            self._alerts(self.inspector.feed(data, True), out)
        state = self.state
        if state is State.MIRROR:
            self._to_main(data, out)
            self._to_honeypot(data, out)
        elif state is State.MAIN_ONLY:
            self._to_main(data, out)
        elif state is State.SWITCHING:
            self._held.append(data)
            self._held_len += len(data)
            if self._held_len > self.policy.hold_limit:
                self._pause(CLIENT, BY_HOLD, out)
        elif state in (State.HONEYPOT, State.DIRECT):
            self._to_honeypot(data, out)

    def _to_main(self, data: bytes, out: list[Command]) -> None:
        if self._open & M_:
            out.append(Send(MAIN, data))
        elif not self._shut & M_:
            self._pending_main.append(data)

    def _to_honeypot(self, data: bytes, out: list[Command]) -> None:
        if self._open & H_:
            out.append(Send(HONEYPOT, data))
            return
        if self._shut & H_:
            return  # it finished or failed: no connection will take these bytes
        self._pending_hp.append(data)
        self._pending_hp_len += len(data)
        if self._pending_hp_len > self.policy.honeypot_buffer:
            if self.state is State.MIRROR:
                self._drop_honeypot("honeypot not connected, buffer limit reached", out)
            else:
                self._pause(CLIENT, BY_HONEYPOT, out)

    def _main_data(self, data: bytes, out: list[Command]) -> None:
        state = self.state
        self.replies.main_spoke(self.main_sent)
        if self.inspector is not None and state in (State.MIRROR, State.MAIN_ONLY, State.SWITCHING):
            # Main's reply is inspected before the client sees it: a bytes switch here
            # hands the client the honeypot's version of it instead.
            self._main_inspected += len(data)
            self._alerts(self.inspector.feed(data, False), out)
            state = self.state
        if state in (State.MIRROR, State.MAIN_ONLY, State.SWITCHING):
            out.append(Send(CLIENT, data))
            self.main_sent += len(data)
            if state is State.MIRROR:
                self._diverged(self.replies.main_delivered(data, self.main_sent), out)
            elif self._catching_up:  # read before main was paused: the honeypot has further to go
                self._diverged(self.replies.main_delivered(data, self.main_sent), out)
                self._caught_up(out)
            elif state is State.SWITCHING:
                out.append(SetTimer(QUIET_TIMER, self.policy.quiet_time))

    def _honeypot_data(self, data: bytes, at: float, out: list[Command]) -> None:
        start = self.hp_received
        self.hp_received += len(data)
        self.replies.honeypot_spoke(at, self.hp_received)
        state = self.state
        if state is State.MIRROR:
            self._diverged(self.replies.honeypot_output(data, start, self.main_sent), out)
            if self._awaiting_answers and not self._owes_answers():
                self._close_all(out, reset=False)  # all said (or no longer comparable)
        elif state is State.SWITCHING:
            if self._catching_up:
                self._diverged(self.replies.honeypot_output(data, start, self.main_sent), out)
                self._caught_up(out)
            else:
                out.append(SetTimer(QUIET_TIMER, self.policy.quiet_time))
        elif state in (State.HONEYPOT, State.DIRECT):
            if self._skip:
                cut = min(self._skip, len(data))
                self._skip -= cut
                start, data = start + cut, data[cut:]
            self._inspect_honeypot(start, data, out)
            if data and not self._shut & C_:
                out.append(Send(CLIENT, data))

    def _inspect_honeypot(self, start: int, data: bytes, out: list[Command]) -> None:
        """Inspect the honeypot's bytes from ``start`` on that the inspector has not seen."""
        new = data[max(0, self._inspect_hp_from - start) :]
        if self.inspector is not None and new:
            self._alerts(self.inspector.feed(new, False), out)

    def _diverged(self, found: tuple[int, bytes, bytes] | None, out: list[Command]) -> None:
        """Bytes alignment assumes identical replies: note where they first differ (the
        session then switches with quiet alignment instead)."""
        if found is not None:
            position, main_part, hp_part = found
            out.append(Emit("divergence", {"position": position, "main_excerpt": _escape(main_part),
                                           "honeypot_excerpt": _escape(hp_part)}))

    # ------------------------------------------------------------ alerts, switching

    def _alerts(self, alerts: Sequence[Alert], out: list[Command]) -> None:
        self._record_alerts(alerts, out)
        if alerts:
            self._maybe_switch(alerts, out)

    def _record_alerts(self, alerts: Sequence[Alert], out: list[Command]) -> None:
        for alert in alerts:
            self.score += alert.score
            out.append(
                Emit(
                    "alert",
                    {
                        **alert.details,  # first: a detector cannot overwrite the fields below
                        "detector": alert.detector,
                        "score": alert.score,
                        "session_score": self.score,
                        "reason": alert.reason,
                    },
                )
            )

    def _maybe_switch(self, alerts: Sequence[Alert], out: list[Command]) -> None:
        source = None
        if self.score < self.policy.switch_threshold:
            if self.source_score is None or self.state is not State.MIRROR:
                return
            # The source's score before these alerts (they are recorded after this
            # returns) plus these: this session's earlier alerts are in it already.
            source = self.source_score() + sum(a.score for a in alerts)
            if source < self.source_threshold:
                return
        last = alerts[-1]
        by = f"detector:{last.detector}"
        reason = last.reason if source is None else f"source score {source:.0f}: {last.reason}"
        if not self.policy.dry_run:
            self._switch(by, reason, out)
        elif not self._would_switch and self.state is State.MIRROR:
            self._would_switch = True
            out.append(Emit("would_switch", {"by": by, "reason": reason, "score": self.score}))

    def _on_alert(self, ev: AlertRaised, out: list[Command]) -> None:
        self._alerts([Alert(ev.score, ev.detector, ev.reason, dict(ev.details))], out)

    def _on_switch(self, ev: SwitchRequested, out: list[Command]) -> None:
        self._switch(ev.by, ev.reason, out)

    def _switch(self, by: str, reason: str, out: list[Command]) -> None:
        state = self.state
        if state is State.MAIN_ONLY:
            out.append(
                Emit(
                    "switch_unavailable",
                    {"by": by, "reason": reason, "policy": self.policy.no_honeypot.value},
                )
            )
            if self.policy.no_honeypot is NoHoneypotPolicy.RESET:
                self.close_reason = "switch without honeypot"
                self._close_all(out, reset=True)
            return
        if state is not State.MIRROR or self._lingering:
            return  # (lingering: the client is gone, nothing to switch)
        self.switched_by = by
        align = self.policy.align if self.replies.aligned else Align.QUIET
        out.append(
            Emit(
                "switch",
                {
                    "by": by,
                    "reason": reason,
                    "align": align.value,
                    "score": self.score,
                    "main_bytes_to_client": self.main_sent,
                    "honeypot_bytes": self.hp_received,
                },
            )
        )
        if align is Align.BYTES:
            if (self.hp_received < self.main_sent and self.replies.divergence is not None
                    and self._open & H_ and not self._eof_from & H_):
                self._catch_up(out)
            else:
                self._cut_over(out)
        else:
            self.state = State.SWITCHING
            self.replies.forget()
            self._resume(CLIENT, BY_MAIN, out)  # client bytes are held now, not sent to main
            out.append(SetTimer(QUIET_TIMER, self.policy.quiet_time))
            out.append(SetTimer(DEADLINE_TIMER, self.policy.quiet_max))

    def _catch_up(self, out: list[Command]) -> None:
        """A bytes switch while the honeypot is behind main (its copy of the client's bytes
        may have been batched): the client's new bytes are held and main is no longer
        read, until the honeypot's output has reached main's position and matched
        main's on the way.  Then it hands over as any bytes switch does; a difference
        makes it a quiet switch after all; quiet_max bounds the wait."""
        self.state = State.SWITCHING
        self._catching_up = True
        self._pause(MAIN, BY_SWITCH, out)
        self._resume(CLIENT, BY_MAIN, out)  # client bytes are held now, not sent to main
        out.append(SetTimer(DEADLINE_TIMER, self.policy.quiet_max))

    def _caught_up(self, out: list[Command]) -> None:
        """After the honeypot's output or main's during a catch-up: hand over, or go quiet."""
        if not self.replies.aligned:  # the replies differ: only a quiet switch is safe
            self._catching_up = False
            self.replies.forget()
            self._resume(MAIN, BY_SWITCH, out)  # main finishes its reply
            out.append(SetTimer(QUIET_TIMER, self.policy.quiet_time))
        elif self.hp_received >= self.main_sent or self.replies.divergence is None:
            self._cut_over(out)  # there, or too far apart to compare any further

    def _cut_over(self, out: list[Command]) -> None:
        """Hand the client to the honeypot and reset main."""
        was = self.state
        aligned = was is State.MIRROR or self._catching_up
        self._catching_up = False
        self.state = State.HONEYPOT
        self._close(MAIN, out, reset=True)
        self._paused[1] = 0
        self._resume(CLIENT, BY_MAIN, out)
        if self._open & H_:
            self._resume(CLIENT, BY_CONNECT, out)  # it may have waited for main, not needed now
        if self._write_paused & C_:
            self._pause(HONEYPOT, BY_CLIENT, out)
        if aligned:
            self._inspect_hp_from = self._main_inspected
            if self.hp_received > self.main_sent:
                joined = self.replies.take_ahead()
                self._inspect_honeypot(self.main_sent, joined, out)
                if joined and not self._shut & C_:
                    out.append(Send(CLIENT, joined))
            else:
                self._skip = self.main_sent - self.hp_received
                self.replies.forget()
        else:  # quiet: everything the honeypot said so far was discarded
            self._inspect_hp_from = self.hp_received
        if was is State.SWITCHING:
            out.append(CancelTimer(QUIET_TIMER))
            out.append(CancelTimer(DEADLINE_TIMER))
            held, self._held, self._held_len = self._held, [], 0
            for chunk in held:
                self._to_honeypot(chunk, out)
            self._resume(CLIENT, BY_HOLD, out)
        out.append(
            Emit(
                "switch_done",
                {"main_bytes_to_client": self.main_sent, "honeypot_bytes": self.hp_received},
            )
        )
        if self._eof_from & C_:
            self._shutdown(HONEYPOT, out)
        if self._eof_from & H_:
            # Even while skipping: a honeypot that ended short of main will say no more.
            self._shutdown(CLIENT, out)
        self._check_done(out)

    def _on_timer(self, ev: TimerFired, out: list[Command]) -> None:
        if ev.name == ANSWERS_TIMER:
            if self._awaiting_answers:
                self._close_all(out, reset=False)
            return
        if self.state is not State.SWITCHING:
            return
        if ev.name == QUIET_TIMER and self._catching_up:
            return  # a catch-up ends when the honeypot is there (or at the deadline)
        if ev.name == QUIET_TIMER and self._paused[1] & BY_CLIENT:
            return  # main is not silent, we stopped reading it; rearmed on WriteResumed
        if ev.name == QUIET_TIMER and self.replies.honeypot_owes:
            # Late, not quiet (a program still starting, a slow reply): what it still owes
            # would repeat what main already said.  Its output rearms the timer; the
            # deadline bounds the wait.
            return
        if ev.name in (QUIET_TIMER, DEADLINE_TIMER):
            self._cut_over(out)

    def _drop_honeypot(self, why: str, out: list[Command]) -> None:
        out.append(Emit("honeypot_dropped", {"reason": why}))
        self.state = State.MAIN_ONLY
        self._close(HONEYPOT, out, reset=True)
        self._pending_hp, self._pending_hp_len = [], 0
        self.replies.forget()
        if self._awaiting_answers:
            self._close_all(out, reset=False)  # it was all the session waited for

    # ---------------------------------------------------------- connection events

    def _on_opened(self, ev: Opened, out: list[Command]) -> None:
        end = ev.end
        self._connecting &= ~_BIT[end]
        if self._shut & _BIT[end] and end is not CLIENT:
            return  # closed while connecting; the relay closes it
        self._open |= _BIT[end]
        if self._paused[_INDEX[end]]:
            out.append(PauseReading(end))  # paused while connecting: there was nothing to pause
        if end is MAIN:
            pending_main, self._pending_main = self._pending_main, []
            out.extend(Send(MAIN, chunk) for chunk in pending_main)
            if self._pending_main_eof:
                self._shutdown(MAIN, out)
        if end is HONEYPOT:
            pending, self._pending_hp, self._pending_hp_len = self._pending_hp, [], 0
            out.extend(Send(HONEYPOT, chunk) for chunk in pending)
            if self._pending_hp_eof:
                self._shutdown(HONEYPOT, out)
            if self._lingering:
                if self._owes_answers():
                    # It has main's requests only now: the session waits for its answers
                    # (quiet_max at most), so its output is recorded whole.
                    self._await_answers(out)
                else:
                    self._close_all(out, reset=False)  # what it was owed is on its way
                return
            self._resume(CLIENT, BY_HONEYPOT, out)
        if end is self.serving:
            self._resume(CLIENT, BY_CONNECT, out)

    def _on_open_failed(self, ev: OpenFailed, out: list[Command]) -> None:
        self._connecting &= ~_BIT[ev.end]
        self._shut |= _BIT[ev.end]
        if self._lingering:
            out.append(Emit("backend_failure", {"end": ev.end.value, "reason": ev.reason}))
            self._close_all(out, reset=False)
            return
        self._backend_gone(ev.end, ev.reason, reset=True, out=out)

    def _on_lost(self, ev: ConnectionLost, out: list[Command]) -> None:
        end = ev.end
        was_open = self._open & _BIT[end]
        self._open &= ~_BIT[end]
        self._shut |= _BIT[end]
        self._lost |= _BIT[end]
        if end is CLIENT:
            self.close_reason = ev.reason or ("client reset" if ev.reset else "client closed")
            self._close_all(out, reset=ev.reset)
            return
        if not was_open:
            return
        if not ev.reset and self._eof_from & _BIT[end]:
            self._check_done(out)
            return
        self._backend_gone(end, ev.reason or "connection lost", reset=ev.reset, out=out)

    def _backend_gone(self, end: End, reason: str, *, reset: bool, out: list[Command]) -> None:
        state = self.state
        if end is MAIN:
            if state is State.SWITCHING:
                self._cut_over(out)
            elif state in (State.MIRROR, State.MAIN_ONLY):
                out.append(Emit("backend_failure", {"end": "main", "reason": reason}))
                self.close_reason = f"main: {reason}"
                self._close_all(out, reset=True)
            return
        # honeypot
        if state is State.MIRROR:
            out.append(Emit("backend_failure", {"end": "honeypot", "reason": reason}))
            self._drop_honeypot(reason, out)
        elif state is State.SWITCHING:
            out.append(Emit("backend_failure", {"end": "honeypot", "reason": reason}))
            self._abort_switch(out)
        elif state in (State.HONEYPOT, State.DIRECT):
            out.append(Emit("backend_failure", {"end": "honeypot", "reason": reason}))
            self.close_reason = f"honeypot: {reason}"
            self._close_all(out, reset=True)

    def _abort_switch(self, out: list[Command]) -> None:
        """The honeypot died during a quiet switch: back to main alone, then policy."""
        out.append(CancelTimer(QUIET_TIMER))
        out.append(CancelTimer(DEADLINE_TIMER))
        self.state = State.MAIN_ONLY
        self.switched_by = None
        self._catching_up = False
        self._resume(MAIN, BY_SWITCH, out)
        held, self._held, self._held_len = self._held, [], 0
        if self.policy.no_honeypot is NoHoneypotPolicy.RESET:
            self._switch("abort", "honeypot lost during switch", out)
            return
        out.extend(Send(MAIN, chunk) for chunk in held)
        self._resume(CLIENT, BY_HONEYPOT, out)
        if self._write_paused & M_:
            self._pause(CLIENT, BY_MAIN, out)
        self._resume(CLIENT, BY_HOLD, out)
        if self._eof_from & C_:
            self._shutdown(MAIN, out)

    def _on_eof(self, ev: EofReceived, out: list[Command]) -> None:
        end = ev.end
        self._eof_from |= _BIT[end]
        state = self.state
        if end is CLIENT:
            if state is State.MIRROR:
                self._shutdown(MAIN, out)
                self._shutdown(HONEYPOT, out)
            elif state is State.MAIN_ONLY:
                self._shutdown(MAIN, out)
            elif state in (State.HONEYPOT, State.DIRECT):
                self._shutdown(HONEYPOT, out)
            # SWITCHING: passed on to the honeypot after the held bytes
        elif end is MAIN:
            if state in (State.MIRROR, State.MAIN_ONLY):
                self._shutdown(CLIENT, out)
            elif state is State.SWITCHING:
                self._cut_over(out)  # main finished talking: nothing left to drain
        elif self._catching_up:
            self._cut_over(out)  # the honeypot ended short of main: it will say no more
        elif state in (State.HONEYPOT, State.DIRECT):
            self._shutdown(CLIENT, out)
        self._check_done(out)

    def _on_write_paused(self, ev: WritePaused, out: list[Command]) -> None:
        end = ev.end
        self._write_paused |= _BIT[end]
        if end is CLIENT:
            serving = self.serving
            if serving is not None:
                self._pause(serving, BY_CLIENT, out)
        elif end is MAIN:
            if self.state in (State.MIRROR, State.MAIN_ONLY):
                self._pause(CLIENT, BY_MAIN, out)
        elif self.state is State.MIRROR:
            self._drop_honeypot("honeypot fell behind, buffer limit reached", out)
        elif self.state in (State.SWITCHING, State.HONEYPOT, State.DIRECT):
            self._pause(CLIENT, BY_HONEYPOT, out)  # it gets the client's bytes (held ones first)

    def _on_write_resumed(self, ev: WriteResumed, out: list[Command]) -> None:
        end = ev.end
        self._write_paused &= ~_BIT[end]
        if end is CLIENT:
            draining = self.state is State.SWITCHING and self._paused[1] & BY_CLIENT
            self._resume(MAIN, BY_CLIENT, out)
            self._resume(HONEYPOT, BY_CLIENT, out)
            if draining:
                # Main may still have a reply to finish: give it a fresh quiet period.
                out.append(SetTimer(QUIET_TIMER, self.policy.quiet_time))
        elif end is MAIN:
            self._resume(CLIENT, BY_MAIN, out)
        else:
            self._resume(CLIENT, BY_HONEYPOT, out)

    # ------------------------------------------------------------------ helpers

    def _connect(self, end: End, out: list[Command]) -> None:
        self._connecting |= _BIT[end]
        out.append(Connect(end))

    def _shutdown(self, end: End, out: list[Command]) -> None:
        if self._shut & _BIT[end]:
            return
        if end is HONEYPOT and not self._open & H_:
            self._pending_hp_eof = True
            return
        if end is MAIN and not self._open & M_:
            self._pending_main_eof = True
            return
        self._shut |= _BIT[end]
        out.append(Shutdown(end))

    def _close(self, end: End, out: list[Command], *, reset: bool) -> None:
        if self._open & _BIT[end] or self._connecting & _BIT[end]:
            out.append(Close(end, reset=reset))
        self._open &= ~_BIT[end]
        self._connecting &= ~_BIT[end]
        self._shut |= _BIT[end]

    def _close_all(self, out: list[Command], *, reset: bool) -> None:
        for end in (MAIN, HONEYPOT):
            if self._open & _BIT[end] or self._connecting & _BIT[end]:
                self._close(end, out, reset=reset)
        if not self._lost & C_:
            out.append(Close(CLIENT, reset=reset))
        self._shut |= C_
        if self.inspector is not None:
            # What the detectors held back (a request that never got its reply) still
            # scores the session and its source; there is nothing left to switch.
            self._record_alerts(self.inspector.finish(), out)
        self.state = State.CLOSED

    def _check_done(self, out: list[Command]) -> None:
        """The session ends when the client's connection is finished both ways."""
        if self.state is State.CLOSED:
            return
        if self._eof_from & C_ and self._shut & C_:
            self.close_reason = self.close_reason or "closed"
            if (self.state is State.MIRROR and self._connecting & H_
                    and (self._pending_hp or self._pending_hp_eof)):
                # A short session can be over before the honeypot's connect returns; it
                # must still get every byte main got, or its state would differ.  The
                # client and main are done with; the honeypot's connect (bounded by
                # connect_timeout) ends the session.
                self._linger(out)
                return
            if self._owes_answers():
                if not self._awaiting_answers:
                    self._linger(out)
                    self._await_answers(out)
                return
            self._close_all(out, reset=False)

    def _await_answers(self, out: list[Command]) -> None:
        self._awaiting_answers = True
        out.append(SetTimer(ANSWERS_TIMER, self.policy.quiet_max))

    def _owes_answers(self) -> bool:
        """Mirrored, compared, and the honeypot behind main, with its connection open."""
        return (self.state is State.MIRROR and self.replies.divergence is not None
                and self.hp_received < self.main_sent and bool(self._open & H_)
                and not self._eof_from & H_)

    def _linger(self, out: list[Command]) -> None:
        """The client and main are done with; the honeypot ends the session."""
        self._lingering = True
        if self._open & M_ or self._connecting & M_:
            self._close(MAIN, out, reset=False)
        if not self._lost & C_:
            out.append(Close(CLIENT, reset=False))
            self._lost |= C_  # closed by us: nothing more to close there

    def _pause(self, end: End, why: int, out: list[Command]) -> None:
        i = _INDEX[end]
        reasons = self._paused[i]
        if not reasons:
            out.append(PauseReading(end))
        self._paused[i] = reasons | why

    def _resume(self, end: End, why: int, out: list[Command]) -> None:
        i = _INDEX[end]
        reasons = self._paused[i]
        if reasons & why:
            reasons &= ~why
            self._paused[i] = reasons
            if not reasons:
                out.append(ResumeReading(end))


def _escape(data: bytes) -> str:
    return data.decode("latin-1").encode("unicode_escape").decode("ascii")


_HANDLERS: dict[type, Callable[[Session, Any, list[Command]], None]] = {
    DataReceived: Session._on_data,
    Opened: Session._on_opened,
    OpenFailed: Session._on_open_failed,
    ConnectionLost: Session._on_lost,
    EofReceived: Session._on_eof,
    WritePaused: Session._on_write_paused,
    WriteResumed: Session._on_write_resumed,
    TimerFired: Session._on_timer,
    SwitchRequested: Session._on_switch,
    AlertRaised: Session._on_alert,
}
