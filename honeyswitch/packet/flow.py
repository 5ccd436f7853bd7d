"""One client connection in packet mode, as a state machine: packets in, verdicts out.

The proxy mode's session core (:class:`~honeyswitch.core.session.Session`) decides
everything about the *streams*: who serves, what is inspected, when and how to switch,
what the client sees at the cut (``bytes`` or ``quiet`` alignment).  A :class:`Flow`
reassembles each direction's bytes from packets, feeds them to that core, and carries
its commands out on packets instead of sockets:

========================= =============================================================
core command              in packet mode
========================= =============================================================
``Send(MAIN, b)``         the client's packet carrying ``b`` passes to main
``Send(HONEYPOT, b)``     ``b`` queued on the honeypot sender (honeyswitch plays the
                          client toward the honeypot, see below)
``Send(CLIENT, b)``       main's (or after the cut the honeypot's) packet passes;
                          at the cut, bytes honeyswitch itself owes the client
``Shutdown(HONEYPOT)``    a FIN after the client's bytes, toward the honeypot
``Close(MAIN, reset)``    an RST with the sequence number main expects
``Close(HONEYPOT|CLIENT,  an RST toward that end
reset)``
========================= =============================================================

Before the switch, main and the client talk through their own stacks: honeyswitch only
reads (and verdicts) their packets.  Toward the honeypot honeyswitch *is* the client:
it forwards the client's SYN (same ISN and options), completes the handshake, sends the
client's bytes as its own segments (:mod:`.sender`) and acknowledges the honeypot's
replies, which it records and drops.  While a ``bytes`` switch is possible it
acknowledges them only as far as the client has acknowledged main's, so everything the
client may still need stays the honeypot's to resend.  At the cut, main is reset and
sequence numbers, acknowledgements, SACK blocks, timestamps and windows are translated
between the honeypot and the client, which keeps its connection.  See :mod:`.paths`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..core.session import QUIET_TIMER, Session, SessionPolicy
from ..core.types import (
    AlertRaised,
    CancelTimer,
    Close,
    Command,
    Connect,
    ConnectionLost,
    Emit,
    End,
    EofReceived,
    Event,
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
from ..detect.base import StreamInspector
from . import paths
from .headers import ACK, RST, Packet, build
from .legs import (
    CLIENT_RTX,
    HP_CONNECT,
    HP_RTX,
    HP_SYN,
    SYN_RTO,
    Addrs,
    Inject,
    Leg,
    Out,
    Record,
    Verdict,
    payload_room,
)
from .reasm import Reassembler
from .sender import Sender

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
MAX_RESETS = 8  # RSTs toward one end (each answers the ACK that shows its exact number)
NORMALIZE_SCORE = 50.0  # a segment that contradicts bytes already seen: evasion


class Flow:
    def __init__(self, policy: SessionPolicy, addrs: Addrs, *, direct: bool = False,
                 inspector: StreamInspector | None = None, source_score: Callable[[], float] | None = None,
                 source_threshold: float = 0.0, connect_timeout: float = 5.0) -> None:
        self.policy = policy
        self.addrs = addrs
        self.connect_timeout = connect_timeout
        self.hp_syn_rto = SYN_RTO
        self.core = Session(policy, direct=direct, inspector=inspector, source_score=source_score,
                            source_threshold=source_threshold)
        self.direct = direct
        limit = policy.honeypot_buffer
        self.c, self.m, self.h = Leg(), Leg(), Leg()
        self.cs, self.ms, self.hs = Reassembler(limit), Reassembler(limit), Reassembler(limit)
        self.to_hp = Sender()
        self.to_client: Sender | None = None  # what honeyswitch itself owes the client after the cut
        self.syn: Packet | None = None  # the client's SYN, clamped: copied to the honeypot
        self.hp_acked = 0  # honeypot stream acknowledged to it
        self.to_main = 0  # client bytes released to main (main's rcv_nxt, as far as we know)
        self.fin_to_main = False  # ... and the client's FIN
        self.acked_to_client = 0  # client bytes acknowledged to the client (by main, then us)
        self.client_paused = False
        self.cut = direct  # the honeypot serves the client: translate between them
        self.shift = 0  # client position = honeypot position + shift, after the cut
        self.cut_at = 0  # main's bytes the client had at the cut
        self.ts_off = 0
        self.hp_ts_at_cut = 0
        self.ts_to_client = 0  # the latest TSval the client has seen
        self.align = ""
        self.resets: dict[End, set[int]] = {}  # RST sequence numbers sent toward each end
        self.hp_gone = False  # reset or dropped: its packets are dropped
        self.done = False  # the TCP connection is over (both FINs acknowledged, or a reset)
        self.refused_alerted = False
        self._eof_fed: set[End] = set()
        self._out = Out()
        self._cur: End | None = None
        self._released = False  # the core let the current packet's new bytes through
        self._passing_rst = False
        self._cutting = False  # the cut happened during this event: later Sends are ours
        self._cut_pending = False  # cut before the honeypot's SYN-ACK: mapped when it comes
        self._hp_paused = False
        self._armed: dict[str, int] = {}  # timer name -> the sender's una when armed

    # ------------------------------------------------------------------ entry points

    def start(self, syn: Packet, now: float) -> Out:
        """The client's SYN opened the flow."""
        self._begin(CLIENT)
        paths.client_syn(self, syn, first=True)
        return self._end()

    def packet(self, pkt: Packet, src: End, now: float) -> Out:
        """A packet from ``src`` (client, main or honeypot); returns its verdict."""
        self._begin(src)
        if src is CLIENT:
            paths.from_client(self, pkt, now)
        elif src is MAIN:
            paths.from_main(self, pkt, now)
        else:
            paths.from_honeypot(self, pkt, now)
        self._check_done()
        return self._end()

    def timer(self, name: str) -> Out:
        self._begin(None)
        if name == HP_SYN:
            paths.resend_honeypot_syn(self)
        elif name == HP_CONNECT:
            if not self.h.known and not self.hp_gone:
                self.hp_gone = True
                self.feed(OpenFailed(HONEYPOT, "connect timeout"))
        elif name == HP_RTX:
            self.send_hp(self.to_hp.on_timer())
            if self.to_hp.gave_up and not self.hp_gone:
                self.feed(ConnectionLost(HONEYPOT, reset=True, reason="honeypot stopped acknowledging"))
        elif name == CLIENT_RTX and self.to_client is not None:
            self.send_client(self.to_client.on_timer())
        elif name == QUIET_TIMER and self.ms.nxt > max(self.c.ack, 0) and not self.m.reset:
            # Quiet, but the client has not acknowledged all of main's bytes: main may
            # still have to resend some.  Wait on (the deadline bounds it).
            self._out.actions.append(SetTimer(QUIET_TIMER, self.policy.quiet_time))
        else:
            self.feed(TimerFired(name))
        return self._end()

    def request(self, event: SwitchRequested | AlertRaised) -> Out:
        self._begin(None)
        if isinstance(event, SwitchRequested) and (not self.m.known or (not self.h.known and not self.hp_gone)):
            return self._end()  # mid-handshake: nothing to switch yet
        self.feed(event)
        return self._end()

    def terminate(self, reason: str) -> Out:
        """End the flow from outside (idle timeout, daemon stopping).  Mirrored flows are
        left to main; the honeypot's leg, and a switched client, are reset."""
        self._begin(None)
        self.core.close_reason = reason
        if self.cut and not self.c.reset:
            self.reset_client()
        if self.h.known and not self.hp_gone:
            self.reset_honeypot()
        if self.core.state is not State.CLOSED:
            self._run(self.core.handle(ConnectionLost(CLIENT, reset=False, reason=reason)))
        self.done = True
        return self._end()

    # ---------------------------------------------------------------- core plumbing

    def _begin(self, src: End | None) -> None:
        self._out = Out()
        self._cur = src
        self._released = False
        self._passing_rst = False
        self._cutting = False

    def _end(self) -> Out:
        out = self._out
        self._out = Out()
        return out

    def feed(self, event: Event) -> None:
        self._run(self.core.handle(event))

    def feed_data(self, end: End, data: bytes, now: float) -> bool:
        """Give the core ``end``'s new bytes; True if it let them through."""
        self._out.actions.append(Record(end, data))
        self._released = False
        self._run(self.core.data(end, data, now))
        return self._released

    def feed_eof(self, end: End) -> None:
        if end not in self._eof_fed:
            self._eof_fed.add(end)
            self.feed(_eof(end))

    def refused(self, end: End) -> None:
        """A segment from ``end`` contradicted bytes already seen; it is dropped."""
        self._out.verdict = Verdict.DROP
        if not self.refused_alerted:
            self.refused_alerted = True
            self.feed(AlertRaised(NORMALIZE_SCORE, "packet",
                                  f"{end.value} segment contradicts bytes already seen (overlap evasion)"))

    def _run(self, commands: Sequence[Command]) -> None:
        for cmd in commands:
            kind = type(cmd)
            if kind is Send:
                self._send(cmd)  # type: ignore[arg-type]
            elif kind is Emit:
                self._emit(cmd)  # type: ignore[arg-type]
            elif kind is Close:
                self._close(cmd)  # type: ignore[arg-type]
            elif kind is Shutdown:
                self._shutdown(cmd.end)  # type: ignore[union-attr]
            elif kind is Connect:
                if cmd.end is HONEYPOT:  # type: ignore[union-attr]
                    paths.connect_honeypot(self)
            elif kind is PauseReading:
                if cmd.end is CLIENT:  # type: ignore[union-attr]
                    self.client_paused = True
            elif kind is ResumeReading:
                if cmd.end is CLIENT:  # type: ignore[union-attr]
                    self.client_paused = False
            elif kind in (SetTimer, CancelTimer):
                self._out.actions.append(cmd)
            else:
                raise TypeError(f"unknown command {cmd!r}")

    def _send(self, cmd: Send) -> None:
        end, data = cmd.end, cmd.data
        if end is MAIN:
            self.to_main += len(data)
            self._released = True
        elif end is HONEYPOT:
            self.to_hp.push(data)
            self._backlog_check()
            if self._cur is not CLIENT and self.h.known and not self.hp_gone:
                self.send_hp(self.to_hp.sendable())  # held bytes at a quiet cut
        elif self._cur in (MAIN, HONEYPOT) and not self._cutting:
            self._released = True  # the packet at hand carries it
        elif self.to_client is not None:
            self.to_client.push(data)  # the honeypot's bytes beyond main's, at the cut
            self.send_client(self.to_client.sendable())

    def _emit(self, cmd: Emit) -> None:
        if cmd.event_type == "switch":
            self.align = str(cmd.fields.get("align", ""))
        self._out.actions.append(cmd)

    def _close(self, cmd: Close) -> None:
        end, reset = cmd.end, cmd.reset
        passing = self._passing_rst  # an RST we let through already ends that side too
        if end is MAIN:
            if reset and self.core.state is State.HONEYPOT and not self.cut:
                self._cut_over()
            elif reset and not self.m.reset and not (passing and self._cur is CLIENT) and self._cur is not MAIN:
                paths.reset_main(self)
        elif end is HONEYPOT:
            if self.hp_gone:
                return
            if reset and passing and self.cut and self._cur is CLIENT:
                self.hp_gone = True
            elif reset or not self.h.known:
                self.reset_honeypot()
            else:
                self._shutdown(HONEYPOT)
        elif reset and not passing and not self.c.reset:
            self.reset_client()

    def _shutdown(self, end: End) -> None:
        if end is HONEYPOT:
            self.to_hp.close()
            if self.h.known and not self.hp_gone:
                self.send_hp(self.to_hp.sendable())
        elif end is CLIENT and self._cutting and self.to_client is not None:
            self.to_client.close()  # the honeypot's FIN, already taken from it: ours to send
            self.send_client(self.to_client.sendable())

    # --------------------------------------------------------------------- the cut

    def _cut_over(self) -> None:
        """The core handed the client to the honeypot: set up the translation."""
        paths.reset_main(self)
        if not self.h.known:
            self._cut_pending = True  # mapped when its SYN-ACK comes; client packets wait
            return
        self._cut_pending = False
        self.cut = True
        self._cutting = True
        n = self.core.main_sent
        self.cut_at = n
        self.shift = 0 if self.align == "bytes" else n - self.core.hp_received
        if self.m.ts_ok and self.h.ts_ok:
            self.ts_off = (self.m.tsval - self.h.tsval) & 0xFFFFFFFF
            self.hp_ts_at_cut = self.h.tsval
        self.ts_to_client = self.m.tsval
        self.acked_to_client = max(self.m.ack, 0)
        acked = max(self.c.ack, 0)
        owed = Sender(mss=payload_room(self.c.mss))
        owed.window = self.c.window_bytes()
        owed.start_at(acked)
        copies = self.ms.kept(acked, n) if acked < n else b""
        if len(copies) < n - acked:
            # More of main's bytes unacknowledged than we keep: the client's stream
            # cannot be completed.  Rare (it needs honeypot_buffer bytes in flight).
            self.core.close_reason = "switch: main's unacknowledged bytes exceed the buffer"
            self.reset_client()
        owed.push(copies)
        self.to_client = owed
        self.send_client(owed.sendable())

    # ----------------------------------------------------------- packets we send

    def inject(self, data: bytes, to: bytes) -> None:
        self._out.actions.append(Inject(data, to))

    def send_hp(self, segments: Sequence[object]) -> None:
        for seg in segments:
            self.inject(paths.hp_segment(self, seg), self.addrs.honeypot)  # type: ignore[arg-type]
        self._timer_for(self.to_hp, HP_RTX)

    def send_client(self, segments: Sequence[object]) -> None:
        if self.to_client is None:
            return
        for seg in segments:
            self.inject(paths.client_segment(self, seg), self.addrs.client)  # type: ignore[arg-type]
        self._timer_for(self.to_client, CLIENT_RTX)

    def _timer_for(self, sender: Sender, name: str) -> None:
        """(Re)arm a sender's timer when it starts waiting or made progress; stop it
        when nothing is outstanding.  Not once per packet: timers cost."""
        armed = self._armed.get(name)
        if sender.outstanding:
            if armed != sender.una:
                self._armed[name] = sender.una
                self._out.actions.append(SetTimer(name, sender.rto))
        elif armed is not None:
            del self._armed[name]
            self._out.actions.append(CancelTimer(name))

    def timer_fired(self, name: str) -> None:
        self._armed.pop(name, None)

    def _backlog_check(self) -> None:
        """Client bytes the honeypot has not taken beyond the buffer: as a full write
        buffer in the proxy mode (MIRROR drops the honeypot; later states pause)."""
        if self.to_hp.backlog > self.policy.honeypot_buffer and not self._hp_paused:
            self._hp_paused = True
            self.feed(WritePaused(HONEYPOT))
        elif self._hp_paused and self.to_hp.backlog <= self.policy.honeypot_buffer // 2:
            self._hp_paused = False
            self.feed(WriteResumed(HONEYPOT))

    def rst(self, end: End, src: bytes, dst: bytes, sport: int, dport: int, number: int, ack: int) -> None:
        """An RST toward ``end`` with sequence number ``number`` (once per number)."""
        sent = self.resets.setdefault(end, set())
        if number in sent or len(sent) >= MAX_RESETS:
            return
        sent.add(number)
        self.inject(build(src, dst, sport, dport, number, ack, RST | ACK, 0), dst)

    def reset_honeypot(self) -> None:
        a, h = self.addrs, self.h
        self.hp_gone = True
        if not h.known:
            return
        ack = h.number(self.hs.nxt + (1 if self.hs.eof else 0))
        for pos in {max(h.ack, 0), self.to_hp.nxt}:
            self.rst(HONEYPOT, a.client, a.honeypot, a.cport, a.hport, self.c.number(pos), ack)

    def reset_client(self) -> None:
        a = self.addrs
        self.c.reset = True
        if not self.m.known:
            return
        ack = self.c.number(self.cs.nxt + (1 if self.cs.eof else 0))
        for pos in {max(self.c.ack, 0)}:
            self.rst(CLIENT, a.main, a.client, a.mport, a.cport, self.m.number(pos), ack)

    # ----------------------------------------------------------------- teardown

    def _check_done(self) -> None:
        if self.done:
            return
        c, serving = self.c, (self.h if self.cut else self.m)
        client_fin_acked = c.fin is not None and serving.ack > c.fin
        server_fin = self._server_fin()
        if c.reset or serving.reset or (client_fin_acked and server_fin is not None and c.ack > server_fin):
            self.done = True

    def _server_fin(self) -> int | None:
        """The FIN's position in the stream the client sees."""
        if not self.cut:
            return self.m.fin
        if self.to_client is not None and self.to_client.fin_sent:
            return self.to_client.end
        return None if self.h.fin is None else self.h.fin + self.shift


def _eof(end: End) -> Event:
    return EofReceived(end)
