"""The packet-mode flow as scripts of packets: what passes, what is dropped, what
honeyswitch sends, and how numbers are translated.  No sockets."""
from __future__ import annotations

import ipaddress

import pytest

from honeyswitch.core.session import SessionPolicy
from honeyswitch.core.types import Align, CancelTimer, Emit, End, SetTimer, SwitchRequested
from honeyswitch.detect.base import Alert
from honeyswitch.packet.flow import Flow
from honeyswitch.packet.headers import ACK, FIN, PSH, RST, SYN, Packet, build, parse
from honeyswitch.packet.legs import HP_RTX, HP_SYN, Addrs, Inject, Out, Verdict
from honeyswitch.packet.options import build_options, parse_options

C, S = ipaddress.ip_address("198.18.40.2").packed, ipaddress.ip_address("198.18.40.1").packed
CP, MP, HP = 40000, 8080, 8081
CI, MI, HI = 1000, 5000, 9000  # initial sequence numbers
CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT


def pkt(src: End, seq: int, ack: int = 0, flags: int = ACK, payload: bytes = b"", ts: tuple[int, int] | None = None,
        window: int = 512, **opts: object) -> Packet:
    addr = {CLIENT: (C, CP, S, MP), MAIN: (S, MP, C, CP), HONEYPOT: (S, HP, C, CP)}[src]
    options = build_options(ts=ts, **opts)  # type: ignore[arg-type]
    p = parse(build(addr[0], addr[2], addr[1], addr[3], seq, ack, flags, window, options, payload))
    assert p is not None
    return p


def injected(out: Out) -> list[Packet]:
    return [parse(a.data) for a in out.actions if isinstance(a, Inject)]  # type: ignore[misc]


def emitted(out: Out) -> list[str]:
    return [a.event_type for a in out.actions if isinstance(a, Emit)]


class Script:
    """A flow through its handshakes: client, main and honeypot agree to timestamps,
    SACK and window scale 7."""

    def __init__(self, policy: SessionPolicy | None = None, inspector: object = None) -> None:
        self.flow = Flow(policy or SessionPolicy(), Addrs(C, CP, S, MP, S, HP), inspector=inspector)  # type: ignore[arg-type]
        syn = dict(mss=1460, wscale=7, sack_ok=True)
        out = self.flow.start(pkt(CLIENT, CI, 0, SYN, ts=(100, 0), window=64240, **syn), 0.0)
        assert out.verdict is Verdict.ACCEPT
        (copy,) = injected(out)
        assert (copy.dst, copy.dport, copy.seq, copy.flags) == (S, HP, CI, SYN)  # the client's SYN, to the honeypot
        assert self.send(MAIN, MI, CI + 1, SYN | ACK, ts=(700, 100), window=65160, **syn).verdict is Verdict.ACCEPT
        out = self.send(HONEYPOT, HI, CI + 1, SYN | ACK, ts=(900, 100), window=65160, **syn)
        assert out.verdict is Verdict.DROP
        (ack,) = injected(out)  # honeyswitch completes the honeypot's handshake
        assert (ack.seq, ack.ack, ack.flags) == (CI + 1, HI + 1, ACK)
        assert parse_options(ack.options).ts == (100, 900)
        assert self.send(CLIENT, CI + 1, MI + 1, ts=(101, 700)).verdict is Verdict.ACCEPT

    def send(self, src: End, seq: int, ack: int = 0, flags: int = ACK, payload: bytes = b"", **kw: object) -> Out:
        return self.flow.packet(pkt(src, seq, ack, flags, payload, **kw), src, 0.0)  # type: ignore[arg-type]


def test_mirror_passes_client_and_main_and_copies_to_the_honeypot() -> None:
    s = Script()
    out = s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"GET /\n", ts=(102, 700))
    assert out.verdict is Verdict.ACCEPT and out.payload is None  # to main, untouched
    (copy,) = injected(out)
    assert (copy.dst, copy.dport, copy.seq, copy.ack, copy.payload) == (S, HP, CI + 1, HI + 1, b"GET /\n")
    assert parse_options(copy.options).ts == (102, 900)  # client's clock; echoes the honeypot's
    assert s.send(MAIN, MI + 1, CI + 7, ACK | PSH, b"OK\n", ts=(701, 102)).verdict is Verdict.ACCEPT
    out = s.send(HONEYPOT, HI + 1, CI + 7, ACK | PSH, b"OK\n", ts=(901, 102))
    assert out.verdict is Verdict.DROP
    assert injected(out) == []  # bytes alignment: not ACKed before the client ACKs main's copy
    (ack,) = injected(s.send(CLIENT, CI + 7, MI + 4, ts=(103, 701)))
    assert ack.ack == HI + 4 and parse_options(ack.options).ts == (103, 901)
    assert s.flow.core.main_sent == s.flow.core.hp_received == 3


def test_quiet_alignment_acks_the_honeypot_at_once() -> None:
    s = Script(SessionPolicy(align=Align.QUIET))
    s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"x\n", ts=(102, 700))
    (ack,) = injected(s.send(HONEYPOT, HI + 1, CI + 3, ACK | PSH, b"other\n", ts=(901, 102)))
    assert ack.ack == HI + 7


def test_switch_resets_main_exactly_and_translates_both_ways() -> None:
    s = Script()
    s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"a\n", ts=(102, 700))
    s.send(MAIN, MI + 1, CI + 3, ACK | PSH, b"A\n", ts=(701, 102))
    s.send(HONEYPOT, HI + 1, CI + 3, ACK | PSH, b"A\n", ts=(901, 102))
    s.send(CLIENT, CI + 3, MI + 3, ts=(103, 701))
    out = s.flow.request(SwitchRequested("operator"))
    assert emitted(out) == ["switch", "switch_done"]
    rsts = injected(out)
    assert rsts and all(r.flags & RST and (r.dst, r.dport) == (S, MP) for r in rsts)
    assert {r.seq for r in rsts} == {CI + 3}  # main's next expected number: it accepts the RST
    # Client -> honeypot: address, ACK (main's numbers to the honeypot's), TSecr (clocks).
    out = s.send(CLIENT, CI + 3, MI + 3, ACK | PSH, b"b\n", ts=(104, 701))
    p = parse(out.payload or b"")
    assert p is not None and (p.dst, p.dport, p.seq, p.ack) == (S, HP, CI + 3, HI + 3)
    assert parse_options(p.options).ts == (104, 901)
    # Honeypot -> client: as main's continuation (numbers, clock, address).
    out = s.send(HONEYPOT, HI + 3, CI + 5, ACK | PSH, b"B\n", ts=(905, 104))
    p = parse(out.payload or b"")
    assert p is not None and (p.src, p.sport, p.seq, p.ack, p.payload) == (S, MP, MI + 3, CI + 5, b"B\n")
    assert parse_options(p.options).ts == (705, 104)  # main's last 701, plus the honeypot's 4 ticks since
    # Main's late packets are dropped, and its ACK gets the exact RST it names.
    out = s.send(MAIN, MI + 3, CI + 4, ts=(702, 103))
    assert out.verdict is Verdict.DROP
    assert [(r.seq, r.flags & RST) for r in injected(out)] == [(CI + 4, RST)]


def test_sack_blocks_are_translated_after_the_switch() -> None:
    s = Script()
    s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"get\n", ts=(102, 700))
    s.flow.request(SwitchRequested("operator"))
    for off in (0, 100, 200):
        s.send(HONEYPOT, HI + 1 + off, CI + 5, ACK | PSH, b"z" * 100, ts=(901, 102))
    out = s.send(CLIENT, CI + 5, MI + 101, ts=(103, 701), sack=[(MI + 201, MI + 301)])
    p = parse(out.payload or b"")
    assert p is not None and parse_options(p.options).sack == [(HI + 201, HI + 301)]


def test_inline_alert_on_a_request_keeps_it_from_main() -> None:
    class Flag:
        def feed(self, data: bytes, to_server: bool) -> list[Alert]:
            return [Alert(100, "signature", "evil")] if b"evil" in data else []

        def finish(self) -> list[Alert]:
            return []

    s = Script(inspector=Flag())
    out = s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"evil\n", ts=(102, 700))
    assert "switch" in emitted(out)
    p = parse(out.payload or b"")
    assert p is not None and (p.dst, p.dport) == (S, HP)  # it went to the honeypot only
    assert any(r.flags & RST and r.dport == MP for r in injected(out))


def test_lost_copy_to_the_honeypot_is_resent() -> None:
    s = Script()
    out = s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"data", ts=(102, 700))
    assert any(isinstance(a, SetTimer) and a.name == HP_RTX for a in out.actions)
    # The copy is lost: the honeypot says nothing.  The timer resends it.
    s.flow.timer_fired(HP_RTX)
    (again,) = injected(s.flow.timer(HP_RTX))
    assert (again.seq, again.payload) == (CI + 1, b"data")
    # Three duplicate ACKs for a hole resend at once.
    s.send(CLIENT, CI + 5, MI + 1, ACK | PSH, b"more", ts=(103, 700))
    outs = [s.send(HONEYPOT, HI + 1, CI + 5, ts=(901, 102), sack=[(CI + 9, CI + 9)]) for _ in range(3)]
    resent = [p for o in outs for p in injected(o) if p.payload]
    assert [(p.seq, p.payload) for p in resent] == [(CI + 5, b"more")]


def test_contradicting_retransmission_is_dropped_and_alerted() -> None:
    s = Script()
    assert s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"benign", ts=(102, 700)).verdict is Verdict.ACCEPT
    out = s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"attack", ts=(103, 700))
    assert out.verdict is Verdict.DROP and "alert" in emitted(out)


def test_client_fin_goes_to_the_honeypot_after_its_bytes() -> None:
    s = Script()
    out = s.send(CLIENT, CI + 1, MI + 1, ACK | PSH | FIN, b"bye", ts=(102, 700))
    assert out.verdict is Verdict.ACCEPT
    copies = injected(out)
    assert [(p.seq, p.payload, bool(p.flags & FIN)) for p in copies] == [(CI + 1, b"bye", False), (CI + 4, b"", True)]


@pytest.mark.parametrize("hp_wscale,main_wscale,window,want", [(7, 7, 100, 100), (9, 7, 100, 400), (0, 7, 100, 1)])
def test_window_is_rescaled_for_the_client(hp_wscale: int, main_wscale: int, window: int, want: int) -> None:
    f = Flow(SessionPolicy(), Addrs(C, CP, S, MP, S, HP))
    f.start(pkt(CLIENT, CI, 0, SYN, ts=(1, 0), wscale=7, sack_ok=True), 0.0)
    f.packet(pkt(MAIN, MI, CI + 1, SYN | ACK, ts=(2, 1), wscale=main_wscale, sack_ok=True), MAIN, 0.0)
    f.packet(pkt(HONEYPOT, HI, CI + 1, SYN | ACK, ts=(3, 1), wscale=hp_wscale, sack_ok=True), HONEYPOT, 0.0)
    f.packet(pkt(CLIENT, CI + 1, MI + 1, ts=(4, 2)), CLIENT, 0.0)
    f.request(SwitchRequested("operator"))
    out = f.packet(pkt(HONEYPOT, HI + 1, CI + 1, ts=(5, 4), window=window), HONEYPOT, 0.0)
    p = parse(out.payload or b"")
    assert p is not None and p.window == want


@pytest.mark.parametrize("hp_scales,want", [(True, 100), (False, 100 << 7), (None, 0xFFFF)])
def test_client_window_is_given_to_the_honeypot_as_it_reads_windows(hp_scales: bool | None, want: int) -> None:
    """A honeypot whose SYN-ACK had no window scale option reads the client's window
    fields unscaled: honeyswitch's copies to it carry the client's window in bytes."""
    f = Flow(SessionPolicy(), Addrs(C, CP, S, MP, S, HP))
    f.start(pkt(CLIENT, CI, 0, SYN, ts=(1, 0), wscale=7, sack_ok=True), 0.0)
    f.packet(pkt(MAIN, MI, CI + 1, SYN | ACK, ts=(2, 1), wscale=7, sack_ok=True), MAIN, 0.0)
    hp_opts: dict[str, object] = {"wscale": 7} if hp_scales else {}
    f.packet(pkt(HONEYPOT, HI, CI + 1, SYN | ACK, ts=(3, 1), sack_ok=True, **hp_opts), HONEYPOT, 0.0)
    f.packet(pkt(CLIENT, CI + 1, MI + 1, ts=(4, 2), window=100), CLIENT, 0.0)
    window = 100 if hp_scales is not None else 1000  # 1000 << 7 is past what 16 bits hold
    out = f.packet(pkt(CLIENT, CI + 1, MI + 1, PSH | ACK, b"hello", ts=(5, 2), window=window), CLIENT, 0.0)
    (copy,) = [p for p in injected(out) if p.dport == HP]
    assert copy.payload == b"hello" and copy.window == want
    f.packet(pkt(HONEYPOT, HI + 1, CI + 6, PSH | ACK, b"hello", ts=(6, 5)), HONEYPOT, 0.0)
    f.packet(pkt(MAIN, MI + 1, CI + 6, PSH | ACK, b"hello", ts=(7, 5)), MAIN, 0.0)
    f.request(SwitchRequested("operator"))
    out = f.packet(pkt(CLIENT, CI + 6, MI + 6, ts=(8, 7), window=window), CLIENT, 0.0)  # after the switch
    forwarded = parse(out.payload or b"")
    assert forwarded is not None and forwarded.dport == HP and forwarded.window == want


def test_quiet_switch_holds_client_bytes_then_gives_them_to_the_honeypot() -> None:
    from honeyswitch.core.session import DEADLINE_TIMER, QUIET_TIMER
    from honeyswitch.core.types import State

    s = Script(SessionPolicy(align=Align.QUIET, quiet_time=0.1))
    s.send(CLIENT, CI + 1, MI + 1, ACK | PSH, b"q\n", ts=(102, 700))
    s.send(MAIN, MI + 1, CI + 3, ACK | PSH, b"main says more\n", ts=(701, 102))
    s.send(HONEYPOT, HI + 1, CI + 3, ACK | PSH, b"hp\n", ts=(901, 102))  # differs: quiet is right
    s.flow.request(SwitchRequested("operator"))
    assert s.flow.core.state is State.SWITCHING
    # New client bytes are held: main gets the ACK alone, so it can finish its reply.
    out = s.send(CLIENT, CI + 3, MI + 16, ACK | PSH, b"next\n", ts=(103, 701))
    held = parse(out.payload or b"")
    assert held is not None and held.payload == b"" and held.seq == CI + 3 and held.ack == MI + 16
    assert held.flags & PSH == 0
    out = s.flow.timer(QUIET_TIMER)  # quiet, and the client has all of main's bytes
    assert "switch_done" in emitted(out)
    to_hp = [p for p in injected(out) if p.dport == HP and p.payload]
    assert [(p.seq, p.payload) for p in to_hp] == [(CI + 3, b"next\n")]
    assert any(p.dport == MP and p.flags & RST for p in injected(out))
    # The honeypot's next byte follows main's last one for the client.
    p = parse(s.send(HONEYPOT, HI + 4, CI + 8, ACK | PSH, b"answer\n", ts=(902, 103)).payload or b"")
    assert p is not None and p.seq == MI + 16 and p.sport == MP
    s.flow.timer(DEADLINE_TIMER)  # late: nothing more happens


def test_an_unanswered_syn_to_the_honeypot_is_sent_again() -> None:
    # The client does not retry once main has answered it: honeyswitch resends its own
    # SYN toward the honeypot, with a doubling delay, until the honeypot answers.
    flow = Flow(SessionPolicy(), Addrs(C, CP, S, MP, S, HP))
    out = flow.start(pkt(CLIENT, CI, 0, SYN, ts=(100, 0), window=64240, mss=1460), 0.0)
    delays = [a.delay for a in out.actions if isinstance(a, SetTimer) and a.name == HP_SYN]
    flow.packet(pkt(MAIN, MI, CI + 1, SYN | ACK, ts=(700, 100), mss=1460), MAIN, 0.0)
    for _ in range(2):
        out = flow.timer(HP_SYN)
        (again,) = injected(out)
        assert (again.dst, again.dport, again.seq, again.flags) == (S, HP, CI, SYN)
        delays += [a.delay for a in out.actions if isinstance(a, SetTimer) and a.name == HP_SYN]
    assert delays == [0.25, 0.5, 1.0]
    out = flow.packet(pkt(HONEYPOT, HI, CI + 1, SYN | ACK, ts=(900, 100), mss=1460), HONEYPOT, 0.0)
    assert any(isinstance(a, CancelTimer) and a.name == HP_SYN for a in out.actions)
    assert injected(flow.timer(HP_SYN)) == []  # answered: nothing more to send
