"""What a packet-mode flow knows about each TCP endpoint, and the outputs it makes.

A :class:`Leg` is learned from the packets one endpoint (client, main or honeypot)
sends: its initial sequence number, what its SYN agreed to (window scale, SACK,
timestamps, MSS), its latest timestamp, acknowledgement and window, and how far its
stream reaches.  The :class:`Out` of one flow event is a verdict for the packet at hand
plus the actions to carry out (packets to inject, records, the session core's
commands).  All sans-IO.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from ..core.types import End
from . import options, seq
from .headers import ACK, FIN, SYN, Packet
from .options import Options, parse_options

# Room kept in honeyswitch's own segments for options: timestamps (12 bytes) and up to
# three SACK blocks (28): an MSS counts payload without options.
OPTION_ROOM = 40


def payload_room(mss: int) -> int:
    return max(64, mss - OPTION_ROOM)


# Timers of a flow (the session core's own keep their names).
HP_CONNECT = "pkt:hp_connect"
HP_SYN = "pkt:hp_syn"  # our SYN to the honeypot unanswered: send it again
SYN_RTO = 0.25  # seconds before the first resend of that SYN; doubles each time
HP_RTX = "pkt:hp_rtx"
CLIENT_RTX = "pkt:client_rtx"


@dataclass(slots=True)
class Leg:
    isn: int = 0
    known: bool = False  # its SYN (or SYN-ACK) has been seen
    wscale: int = 0  # the shift it announced: applies to the windows it sends
    ws_ok: bool = False  # its SYN carried the window scale option at all (a shift of 0 included)
    sack_ok: bool = False
    ts_ok: bool = False
    mss: int = 536
    tsval: int = 0  # its latest TSval
    ack: int = -1  # its latest acknowledgement, as a position of the other direction
    window: int = 0  # its latest window field (unscaled)
    high: int = 0  # the end of what it has sent (positions, FIN included)
    fin: int | None = None  # position of its FIN
    reset: bool = False

    def learn_syn(self, pkt: Packet, opts: Options) -> None:
        self.isn, self.known = pkt.seq, True
        self.wscale = opts.wscale or 0
        self.ws_ok = opts.wscale is not None
        self.sack_ok = opts.sack_ok
        self.ts_ok = opts.ts is not None
        self.mss = opts.mss or 536
        if opts.ts is not None:
            self.tsval = opts.ts[0]
        self.window = pkt.window

    def pos(self, number: int, near: int) -> int:
        """The position of one of its sequence numbers."""
        return seq.unwrap(number, self.isn, near)

    def number(self, pos: int) -> int:
        return seq.wrap(pos, self.isn)

    def window_bytes(self, field_value: int | None = None) -> int:
        return (self.window if field_value is None else field_value) << self.wscale


def learn(leg: Leg, pkt: Packet, opts: Options, other: Leg) -> int:
    """Update ``leg`` from a non-SYN packet it sent; returns the packet's position."""
    pos = leg.pos(pkt.seq, leg.high)
    end = pos + pkt.payload_len + (1 if pkt.flags & FIN else 0)
    if end > leg.high:
        leg.high = end
    if pkt.flags & FIN and leg.fin is None:
        leg.fin = pos + pkt.payload_len
    if opts.ts is not None and seq.le(leg.tsval, opts.ts[0]):
        leg.tsval = opts.ts[0]
    if pkt.flags & ACK and other.known:
        a = other.pos(pkt.ack, other.high)
        if a > leg.ack:
            leg.ack = a
        leg.window = pkt.window
    return pos


def opts_of(pkt: Packet) -> Options:
    return parse_options(pkt.options) if pkt.data_at > pkt.tcp_at + 20 else _EMPTY


_EMPTY = Options()


@dataclass(frozen=True, slots=True)
class Addrs:
    """The three endpoints of a flow (addresses as packed bytes)."""

    client: bytes
    cport: int
    main: bytes
    mport: int
    honeypot: bytes
    hport: int

    @property
    def v6(self) -> bool:
        return len(self.client) == 16


# ------------------------------------------------------------------ outcomes


class Verdict(enum.Enum):
    ACCEPT = "accept"  # as it came, or rewritten (Out.payload)
    DROP = "drop"


@dataclass(slots=True)
class Inject:
    """A packet honeyswitch sends itself (raw socket); ``to`` is its destination."""

    data: bytes
    to: bytes


@dataclass(slots=True)
class Record:
    """Stream bytes for the transcript, in the order the session core saw them."""

    end: End
    data: bytes


@dataclass(slots=True)
class Out:
    verdict: Verdict = Verdict.ACCEPT
    payload: bytes | None = None  # the rewritten packet, when accepted changed
    actions: list[Any] = field(default_factory=list)


def tcp_flags(fin: bool = False, push: bool = False) -> int:
    return ACK | (FIN if fin else 0) | (0x08 if push else 0)


def ts_option(ok: bool, tsval: int, tsecr: int) -> tuple[int, int] | None:
    return (tsval, tsecr) if ok else None


def syn_clamped(pkt: Packet, opts: Options) -> bool:
    """Take refused options out of a SYN (and any data it carries: TCP Fast Open is
    refused, so the client sends it again after the handshake).  True if changed."""
    changed = False
    for at, data in options.clamp_syn(opts):
        pkt.set_option_bytes(at, data)
        changed = True
    if pkt.flags & SYN and pkt.payload_len:
        pkt.truncate_payload(0)
        changed = True
    return changed
