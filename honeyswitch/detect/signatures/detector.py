"""The signature detector: a compiled ruleset shared by every session's inspector.

It owns what is shared across sessions: the prefilter databases, the per-service rule
applicability, and the threshold / detection_filter state (which counts by source, so
it must outlive sessions).  Everything per session lives in
:class:`~.stream.SignatureInspector`.  Like the rest of the sans-IO core, a detector is
used from one thread (its hyperscan scratch space is not thread-safe).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..base import Alert, FlowInfo
from .engine import Engine, Group
from .http import HttpRequestParser
from .match import MatchOptions
from .profile import PORT_GUESS, WELL_KNOWN, DirectionProfile, build_profile
from .rule import Rule
from .ruleset import Ruleset
from .state import ThresholdTracker
from .stream import SignatureInspector


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-session bounds (bytes), all attacker-facing."""

    stream_window: int = 16 << 10  # reassembly window per direction
    http_max_line: int = 8 << 10  # request line; longer ones are inspected truncated
    http_max_headers: int = 32 << 10  # header block kept per request
    http_max_body: int = 32 << 10  # request body inspected per request
    max_flowbits: int = 256  # distinct flowbits per session
    pcre_window: int = 8 << 10  # bytes one pcre search sees (hyperscan-gated)
    pcre_window_ungated: int = 2 << 10  # the same without hyperscan (re alone)

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")


class SignatureDetector:
    """``InlineDetector`` running Snort/Suricata-style rules on each session's streams.

    ``protocols`` maps service names to application protocols (``{"web": "http",
    "cache": "redis"}``); services not listed are guessed from their port, and HTTP is
    also recognised from the first client bytes.  ``prefilter`` is ``"auto"``,
    ``"hyperscan"`` or ``"python"``; ``pcre_gate`` runs each pcre past hyperscan before
    Python's ``re`` (when hyperscan is installed; see :mod:`.gate`).
    """

    name = "signature"

    def __init__(self, ruleset: Ruleset | Sequence[Rule], *,
                 protocols: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 prefilter: str = "auto", limits: Limits | None = None,
                 pcre_gate: bool = True) -> None:
        rules = ruleset.rules if isinstance(ruleset, Ruleset) else tuple(ruleset)
        # Handshake rules (tls.sni, ja3/ja4, tls.version) never see the stream.
        self.handshake_rules = tuple(r for r in rules if r.handshake)
        self.engine = Engine([r for r in rules if not r.handshake], prefilter)
        self.protocols = {k: v.lower() for k, v in (protocols or {}).items()}
        self.thresholds = ThresholdTracker(clock)
        self.limits = limits or Limits()
        self.match_options = MatchOptions(self.limits.pcre_window,
                                          self.limits.pcre_window_ungated,
                                          gate=pcre_gate)
        self._profiles: dict[tuple[str, tuple[int, ...], bool], DirectionProfile] = {}
        self._stream_groups: dict[tuple[str, tuple[int, ...], bool], Group] = {}

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.engine.rules

    def new_stream(self, flow: FlowInfo) -> SignatureInspector:
        return SignatureInspector(self, flow)

    def new_http_parser(self) -> HttpRequestParser:
        lim = self.limits
        return HttpRequestParser(lim.http_max_line, lim.http_max_headers, lim.http_max_body)

    def profile(self, proto: str, server_ports: tuple[int, ...], to_server: bool) -> DirectionProfile:
        """Which rules apply to one direction of a service (cached)."""
        key = (proto, server_ports, to_server)
        prof = self._profiles.get(key)
        if prof is None:
            prof = build_profile(self.engine.rules, proto, server_ports, to_server)
            self._profiles[key] = prof
        return prof

    def stream_group(self, proto: str, server_ports: tuple[int, ...], to_server: bool) -> Group:
        """The stream prefilter for one direction of a service (cached by rule set)."""
        key = (proto, server_ports, to_server)
        group = self._stream_groups.get(key)
        if group is None:
            prof = self.profile(proto, server_ports, to_server)
            group = self.engine.stream_subgroup(to_server, prof.allowed | frozenset(prof.per_session))
            self._stream_groups[key] = group
        return group

    def warm(self, services: Sequence[tuple[str, int]]) -> None:
        """Compile, at startup, the prefilters that sessions of ``services`` (protocol,
        or "" for one still to be sniffed, and listen port) would otherwise compile on the
        event loop at their first bytes: a pause of ~0.2 s each with the ET slice."""
        for to_server in (True, False):
            self.engine.stream[to_server].prefilter.warm()  # used while sniffing
            for proto, port in services:
                for p in (proto,) if proto else {"tcp", "http", PORT_GUESS.get(port, "tcp")}:
                    known = WELL_KNOWN.get(p)
                    ports = (port,) if known is None or known == port else (port, known)
                    self.stream_group(p, ports, to_server).prefilter.warm()

    def make_alert(self, rule: Rule, to_server: bool) -> Alert:
        details = {"sid": rule.sid, "rev": rule.rev, "gid": rule.gid, "msg": rule.msg,
                   "classtype": rule.classtype, "priority": rule.priority,
                   "action": rule.action,
                   "direction": "to_server" if to_server else "to_client"}
        return Alert(rule.score, self.name, f"[{rule.gid}:{rule.sid}:{rule.rev}] {rule.msg}",
                     details)
