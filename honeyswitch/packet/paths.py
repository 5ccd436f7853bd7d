"""The three packet paths of a :class:`~.flow.Flow`: from the client, from main and from
the honeypot, and the packets honeyswitch builds on the way.

Positions (:mod:`.seq`): the client's stream in the client's own numbering (main and the
honeypot see it unchanged); the server stream as the client sees it in main's numbering
(``f.m``); the honeypot's in its own (``f.h``).  After the cut, client position =
honeypot position + ``f.shift`` (0 for ``bytes`` alignment; main's length minus the
honeypot's for ``quiet``).  In direct state (a blacklisted source) main's numbering *is*
the honeypot's and nothing but the address changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.types import CancelTimer, ConnectionLost, End, Opened, OpenFailed, SetTimer, State
from . import seq
from .headers import ACK, FIN, PSH, RST, SYN, Packet, build, parse
from .legs import HP_CONNECT, HP_SYN, Verdict, learn, opts_of, payload_room, syn_clamped
from .options import Options, build_options, sack_bytes, ts_bytes
from .sender import Segment

if TYPE_CHECKING:
    from .flow import Flow

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
MASK = 0xFFFFFFFF


# ------------------------------------------------------------------ the client


def client_syn(f: Flow, syn: Packet, *, first: bool) -> None:
    opts = opts_of(syn)
    changed = syn_clamped(syn, opts)
    if first:
        f.c.learn_syn(syn, opts)
        data = syn.finish()
        f.syn = parse(data)
        f._run(f.core.start())
        syn = parse(data) or syn
    elif not f.h.known and not f.hp_gone and not f.direct:
        connect_honeypot(f)  # the client retries: so do we
    if f.direct:
        syn.set_dst(f.addrs.honeypot, f.addrs.hport)
        f._out.payload = syn.finish()
    elif changed:
        f._out.payload = syn.finish()


def connect_honeypot(f: Flow) -> None:
    """The client's SYN, same ISN and options, to the honeypot (direct state: the
    client's own SYN goes there instead)."""
    f._out.actions.append(SetTimer(HP_CONNECT, f.connect_timeout))
    resend_honeypot_syn(f)


def resend_honeypot_syn(f: Flow) -> None:
    """(Again) the SYN toward the honeypot.  The client does not retry once main has
    answered it, so a SYN lost on the honeypot's side is honeyswitch's to resend, with
    a doubling timeout, until the honeypot answers or connect_timeout gives up."""
    if f.direct or f.syn is None or f.h.known or f.hp_gone:
        return
    p = f.syn.copy()
    p.set_dst(f.addrs.honeypot, f.addrs.hport)
    f.inject(p.finish(), f.addrs.honeypot)
    f._out.actions.append(SetTimer(HP_SYN, f.hp_syn_rto))
    f.hp_syn_rto *= 2


def from_client(f: Flow, pkt: Packet, now: float) -> None:
    if pkt.flags & SYN:
        client_syn(f, pkt, first=False)
        return
    opts = opts_of(pkt)
    pos = learn(f.c, pkt, opts, f.m)
    if pkt.flags & RST:
        _client_rst(f, pkt, opts, pos)
        return
    if f.c.ack >= 0:
        _client_acked(f)
    consumed, fin = True, bool(pkt.flags & FIN)
    if pkt.payload_len or fin:
        if f.client_paused and f.core.state is not State.CLOSED:
            consumed = False  # not taken: the client sends it again
        else:
            new = f.cs.feed(pos, pkt.payload, fin)
            if new is None:
                f.refused(CLIENT)
                return
            if new:
                f.feed_data(CLIENT, new, now)
            if f.cs.eof:
                f.feed_eof(CLIENT)
    _route_client(f, pkt, opts, pos, consumed)
    if f.h.known and not f.hp_gone:
        f.send_hp(f.to_hp.sendable())


def _client_acked(f: Flow) -> None:
    q = f.c.ack
    if not f.cut:
        f.ms.acked(q)
        if _capped(f):
            ack_honeypot(f)
    elif f.to_client is not None:
        f.send_client(f.to_client.on_ack(q, f.c.window_bytes()))


def _route_client(f: Flow, pkt: Packet, opts: Options, pos: int, consumed: bool) -> None:
    if f._cut_pending:
        f._out.verdict = Verdict.DROP  # the honeypot is not there yet: the client resends
        return
    if f.cut:
        _to_honeypot(f, pkt, opts, pos, consumed)
        return
    state = f.core.state
    if state is State.SWITCHING or (not consumed and state is not State.CLOSED):
        if pkt.payload_len or pkt.flags & FIN:
            # Held for the honeypot (quiet switch) or not taken: main gets the ACK only,
            # so that it can finish the reply in flight.
            pkt.truncate_payload(0)
            pkt.set_flags(pkt.flags & ~(FIN | PSH))
            pkt.set_seq(f.c.number(f.to_main + (1 if f.fin_to_main else 0)))
            f._out.payload = pkt.finish()
        return
    if pkt.flags & FIN and f.cs.eof:
        f.fin_to_main = True


def _to_honeypot(f: Flow, pkt: Packet, opts: Options, pos: int, consumed: bool) -> None:
    """Rewrite a client packet for the honeypot, which now serves the client."""
    a, h = f.addrs, f.h
    pkt.set_dst(a.honeypot, a.hport)
    if pkt.flags & ACK and f.c.ack >= 0:
        r = min(max(f.c.ack - f.shift, f.hp_acked), h.high)
        f.hp_acked = r
        f.hs.acked(r)
        pkt.set_ack(h.number(r))
    if not f.direct:
        if not pkt.flags & SYN:
            pkt.set_window(window_to_hp(f, pkt.window))
        if opts.ts is not None:
            ecr = (opts.ts[1] - f.ts_off) & MASK
            if seq.lt(ecr, f.hp_ts_at_cut):
                ecr = f.hp_ts_at_cut  # it echoes main's clock: the honeypot's moment of the cut
            pkt.set_option_bytes(opts.ts_at + 2, ts_bytes(opts.ts[0], ecr))
        if opts.sack:
            pkt.set_option_bytes(opts.sack_at, sack_bytes(_sack_to_honeypot(f, opts.sack), opts.sack_len))
    if consumed:
        f.to_hp.mark_sent(pos + pkt.payload_len, fin=bool(pkt.flags & FIN))
    elif pkt.payload_len or pkt.flags & FIN:
        pkt.truncate_payload(0)
        pkt.set_flags(pkt.flags & ~(FIN | PSH))
    f._out.payload = pkt.finish()


def _sack_to_honeypot(f: Flow, blocks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    near = max(f.c.ack, 0)
    for left, right in blocks:
        ql, qr = seq.unwrap(left, f.m.isn, near), seq.unwrap(right, f.m.isn, near)
        if ql < f.cut_at or qr - f.shift > f.h.high:
            continue  # about main's part of the stream, or beyond what the honeypot sent
        out.append((f.h.number(ql - f.shift), f.h.number(qr - f.shift)))
    return out


def _client_rst(f: Flow, pkt: Packet, opts: Options, pos: int) -> None:
    window = max(f.h.window_bytes() if f.cut else f.m.window_bytes(), 1 << 16)
    acceptable = f.cs.nxt <= pos <= f.cs.nxt + window
    if f.cut:
        _to_honeypot(f, pkt, opts, pos, True)
    if acceptable:
        f.c.reset = True
        f._passing_rst = True
        f.feed(ConnectionLost(CLIENT, reset=True, reason="client reset"))


# ------------------------------------------------------------------------ main


def from_main(f: Flow, pkt: Packet, now: float) -> None:
    m = f.m
    if f.cut or m.reset:
        f._out.verdict = Verdict.DROP
        if m.reset and not pkt.flags & RST and pkt.flags & ACK and m.known:
            # Main still talks: its ACK names the exact number an RST needs (a challenge
            # ACK answers an RST that was in the window but not exact).
            a = f.addrs
            f.rst(MAIN, a.client, a.main, a.cport, a.mport, pkt.ack, (pkt.seq + pkt.seg_len) & MASK)
        return
    opts = opts_of(pkt)
    if pkt.flags & SYN:
        if pkt.flags & ACK and not m.known:
            m.learn_syn(pkt, opts)
            f.ts_to_client = m.tsval
            f.feed(Opened(MAIN))
        return
    if not m.known:
        return
    pos = learn(m, pkt, opts, f.c)
    if m.ack >= 0:
        f.cs.acked(m.ack)
        f.acked_to_client = max(f.acked_to_client, m.ack)
    if pkt.flags & RST:
        if max(f.c.ack, 0) <= pos <= max(f.c.ack, 0) + max(f.c.window_bytes(), 1 << 16):
            m.reset = True
            f._passing_rst = True
            f.feed(ConnectionLost(MAIN, reset=True, reason="main reset the connection"))
        return
    if pkt.payload_len or pkt.flags & FIN:
        new = f.ms.feed(pos, pkt.payload, bool(pkt.flags & FIN))
        if new is None:
            f.refused(MAIN)
            return
        if new and not f.feed_data(MAIN, new, now):
            f._out.verdict = Verdict.DROP  # withheld: a switch on this very reply
            return
        if f.ms.eof and not f.cut:
            f.feed_eof(MAIN)
    if f.cut:
        f._out.verdict = Verdict.DROP
    elif opts.ts is not None:
        f.ts_to_client = m.tsval


def reset_main(f: Flow) -> None:
    """RST main as the client: its receive point is its last ACK, or what we let
    through (whichever it is, one of the two is exact; a challenge ACK finds the rest)."""
    a, m = f.addrs, f.m
    if m.reset or not m.known:
        m.reset = True
        return
    m.reset = True
    ack = m.number(m.high)
    for pos in sorted({max(m.ack, 0), f.to_main + (1 if f.fin_to_main else 0)}):
        f.rst(MAIN, a.client, a.main, a.cport, a.mport, f.c.number(pos), ack)


# -------------------------------------------------------------------- honeypot


def from_honeypot(f: Flow, pkt: Packet, now: float) -> None:
    h = f.h
    if f.hp_gone:
        f._out.verdict = Verdict.DROP
        if not pkt.flags & RST and pkt.flags & ACK:
            a = f.addrs
            f.rst(HONEYPOT, a.client, a.honeypot, a.cport, a.hport, pkt.ack, (pkt.seq + pkt.seg_len) & MASK)
        return
    opts = opts_of(pkt)
    if pkt.flags & SYN:
        _honeypot_synack(f, pkt, opts)
        return
    if not h.known:
        f._out.verdict = Verdict.DROP
        if pkt.flags & RST:
            f.hp_gone = True
            f.feed(OpenFailed(HONEYPOT, "connection refused"))
        return
    pos = learn(h, pkt, opts, f.c)
    if pkt.flags & RST:
        _honeypot_rst(f, pkt, opts, pos)
        return
    if h.ack >= 0:
        f.send_hp(f.to_hp.on_ack(h.ack, h.window_bytes()))
        f._backlog_check()
        if f.cut:
            f.cs.acked(h.ack)
    if pkt.payload_len or pkt.flags & FIN:
        new = f.hs.feed(pos, pkt.payload, bool(pkt.flags & FIN))
        if new is None:
            f.refused(HONEYPOT)
            return
        if new:
            f.feed_data(HONEYPOT, new, now)
        if f.hs.eof:
            f.feed_eof(HONEYPOT)
    if f.cut and not f.hp_gone:
        _honeypot_to_client(f, pkt, opts, pos)
    else:
        f._out.verdict = Verdict.DROP
        if not f.hp_gone:
            ack_honeypot(f, force=pos > f.hs.nxt)  # out of order: a duplicate ACK (with SACK)


def _honeypot_synack(f: Flow, pkt: Packet, opts: Options) -> None:
    h = f.h
    if not pkt.flags & ACK:
        f._out.verdict = Verdict.DROP
        return
    if not h.known:
        h.learn_syn(pkt, opts)
        h.ack = 0
        f.to_hp.mss = payload_room(h.mss)
        f.to_hp.window = pkt.window  # a SYN's window is never scaled
        f._out.actions.append(CancelTimer(HP_CONNECT))
        f._out.actions.append(CancelTimer(HP_SYN))
        if f.direct:
            f.m.learn_syn(pkt, opts)  # the client sees the honeypot's own numbering
            f.ts_to_client = h.tsval
        f.feed(Opened(HONEYPOT))
        if f._cut_pending:
            f._cut_over()
    if f.direct:
        _honeypot_to_client(f, pkt, opts, -1)
    else:
        f._out.verdict = Verdict.DROP
        ack_honeypot(f, force=True)  # completes its handshake, as the client would
        f.send_hp(f.to_hp.sendable())


def _honeypot_rst(f: Flow, pkt: Packet, opts: Options, pos: int) -> None:
    f.h.reset = True
    f.hp_gone = True
    if f.cut:
        _honeypot_to_client(f, pkt, opts, pos)
        f._passing_rst = True
    else:
        f._out.verdict = Verdict.DROP
    f.feed(ConnectionLost(HONEYPOT, reset=True, reason="honeypot reset the connection"))


def _honeypot_to_client(f: Flow, pkt: Packet, opts: Options, pos: int) -> None:
    """Rewrite a honeypot packet as the continuation of main's stream."""
    a, m, h = f.addrs, f.m, f.h
    q = pos + f.shift
    covered = max(f.c.ack, 0, f.to_client.end if f.to_client is not None else 0)
    if pkt.payload_len and not pkt.flags & (FIN | RST) and q + pkt.payload_len <= covered:
        # The client has (or honeyswitch owes it) all of this: as the client would, ACK.
        f._out.verdict = Verdict.DROP
        ack_honeypot(f)
        return
    pkt.set_src(a.main, a.mport)
    pkt.set_seq(m.number(q))
    if pkt.flags & ACK:
        acked = max(h.ack, f.acked_to_client)
        f.acked_to_client = acked
        pkt.set_ack(f.c.number(acked))
    if not f.direct:
        if not pkt.flags & SYN:
            window = (pkt.window << h.wscale) >> m.wscale
            pkt.set_window(window if window or not pkt.window else 1)
        if opts.ts is not None:
            tsval = (opts.ts[0] + f.ts_off) & MASK
            if seq.lt(tsval, f.ts_to_client):
                tsval = f.ts_to_client  # never older than what the client has seen (PAWS)
            f.ts_to_client = tsval
            pkt.set_option_bytes(opts.ts_at + 2, ts_bytes(tsval, opts.ts[1]))
    f._out.payload = pkt.finish()


# ------------------------------------------------------------ honeyswitch's own


def _capped(f: Flow) -> bool:
    """Whether a bytes switch is still possible: then the honeypot's bytes are ACKed no
    further than the client has ACKed main's, so the honeypot keeps what it may owe."""
    core = f.core
    return core.state is State.MIRROR and f.policy.align.value == "bytes" and core.replies.aligned


def hp_ack_target(f: Flow) -> int:
    if f.cut:
        target = min(max(f.c.ack, 0) - f.shift, f.h.high)
    else:
        target = f.hs.nxt + (1 if f.hs.eof else 0)
        if _capped(f):
            target = min(target, max(f.c.ack, 0))
    return max(target, f.hp_acked)


def ack_honeypot(f: Flow, *, force: bool = False) -> None:
    """ACK the honeypot as the client would (when the ACK point moved, or ``force``)."""
    if f.hp_gone or not f.h.known:
        return
    target = hp_ack_target(f)
    if target <= f.hp_acked and not force:
        return
    f.hp_acked = target
    f.hs.acked(target)
    pos = f.to_hp.end + 1 if f.to_hp.fin_sent else f.to_hp.nxt
    f.inject(hp_segment(f, Segment(pos, b"")), f.addrs.honeypot)


def hp_segment(f: Flow, seg: Segment) -> bytes:
    """A segment to the honeypot from the client's address, with honeyswitch's ACK."""
    a, c, h = f.addrs, f.c, f.h
    f.hp_acked = hp_ack_target(f)
    sack = None
    if h.sack_ok and f.hs.holding:
        sack = [(h.number(lo), h.number(hi)) for lo, hi in f.hs.sack_blocks(3)]
    opts = build_options(ts=(c.tsval, h.tsval) if h.ts_ok else None, sack=sack)
    flags = ACK | (FIN if seg.fin else 0) | (PSH if seg.data else 0)
    return build(a.client, a.honeypot, a.cport, a.hport, c.number(seg.pos), h.number(f.hp_acked), flags,
                 window_to_hp(f, c.window), opts, seg.data)


def window_to_hp(f: Flow, field_value: int) -> int:
    """A client window field as the honeypot must read it.  Window scaling holds on a
    connection only if both SYNs carried the option (RFC 7323): a honeypot whose SYN-ACK
    had none takes window fields as bytes, so the client's scaled window is given in
    bytes (at most 65,535) rather than as the client's field."""
    c, h = f.c, f.h
    if h.ws_ok and c.ws_ok:
        return field_value
    return min(c.window_bytes(field_value), 0xFFFF)


def client_segment(f: Flow, seg: Segment) -> bytes:
    """A segment to the client as main, of bytes honeyswitch itself owes it."""
    a, c, m, h = f.addrs, f.c, f.m, f.h
    opts = build_options(ts=(f.ts_to_client, c.tsval) if m.ts_ok else None)
    window = (h.window << h.wscale) >> m.wscale if h.known else m.window
    flags = ACK | (FIN if seg.fin else 0) | (PSH if seg.data else 0)
    acked = max(f.acked_to_client, h.ack)
    return build(a.main, a.client, a.mport, a.cport, m.number(seg.pos), c.number(acked), flags,
                 window, opts, seg.data)
