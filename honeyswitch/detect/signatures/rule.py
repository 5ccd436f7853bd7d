"""A loaded rule: what :mod:`.parse` builds and the engine evaluates.

Everything is resolved at load time (contents decoded, pcre compiled, ports expanded,
score computed) so that inspection only does matching.
"""
from __future__ import annotations

from dataclasses import dataclass

from .header import Header
from .match import Chain
from .values import Comparison

# Evaluation order within one inspection: pass rules, then flowbit setters, then the rest
# (so a bit set by one rule is visible to another on the same bytes, as in Suricata).
ORDER_PASS, ORDER_SETTER, ORDER_OTHER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class FlowbitOp:
    cmd: str  # set | unset | toggle | isset | isnotset
    names: tuple[str, ...]
    any_of: bool = False  # isset a|b  (default: all of, a&b)

    @property
    def is_check(self) -> bool:
        return self.cmd in ("isset", "isnotset")

    def holds(self, bits: set[str]) -> bool:
        if self.cmd == "isset":
            hits = [n in bits for n in self.names]
        else:
            hits = [n not in bits for n in self.names]
        return any(hits) if self.any_of else all(hits)

    def apply(self, bits: set[str], limit: int) -> None:
        for name in self.names:
            if self.cmd == "set" and len(bits) < limit:
                bits.add(name)
            elif self.cmd == "unset":
                bits.discard(name)
            elif self.cmd == "toggle":
                if name in bits:
                    bits.discard(name)
                elif len(bits) < limit:
                    bits.add(name)


@dataclass(frozen=True, slots=True)
class Threshold:
    """``threshold`` (limit / threshold / both) or ``detection_filter``."""

    kind: str  # limit | threshold | both | detection_filter
    track: str  # by_src | by_dst | by_rule | by_both | by_flow
    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Literal:
    """The prefilter literal of a rule: a positive content it cannot match without."""

    buffer: str
    data: bytes
    nocase: bool


@dataclass(frozen=True, slots=True)
class Rule:
    gid: int
    sid: int
    rev: int
    msg: str
    header: Header
    to_server: bool | None  # from flow:; None = either direction
    chains: tuple[Chain, ...]
    dsize: Comparison | None
    urilen: tuple[Comparison, bool] | None  # (comparison, raw uri?)
    flowbit_checks: tuple[FlowbitOp, ...]  # isset / isnotset
    flowbit_sets: tuple[FlowbitOp, ...]  # set / unset / toggle
    threshold: Threshold | None
    detection_filter: Threshold | None
    classtype: str
    priority: int
    score: float
    noalert: bool
    literal: Literal | None
    packet: bool  # inspect each chunk as a packet instead of the stream window
    anchored: bool  # has offset/depth-anchored stream contents (also tried per chunk)
    level: int  # buffers.LEVEL_*: when during an HTTP request the rule is evaluated
    order: int
    raw: str
    # A handshake rule (tls.sni, ja3.*, ja4.hash, tls.version): matched once per session
    # on the client's TLS handshake, not on the stream (see .tls).
    handshake: bool = False
    tls_version: int | None = None  # tls.version: the negotiated version, e.g. 0x0303

    @property
    def action(self) -> str:
        return self.header.action

    @property
    def key(self) -> tuple[int, int]:
        return (self.gid, self.sid)

    @property
    def is_http(self) -> bool:
        return self.level > 0 or self.header.app_proto == "http"
