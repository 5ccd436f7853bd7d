"""The per-session inspector: reassembly windows, HTTP parsing, flowbits.

Each direction keeps a bounded window of its most recent bytes (``stream_window``).
New bytes are prefiltered (with an overlap of the longest literal, so a literal split
across chunks is found); a rule whose literal was seen stays a candidate while that
region is still in the window, so its other contents may arrive later.  Candidates are
verified on the whole window but only count if the match ends in the new bytes, so a
rule never alerts twice on the same bytes.  Rules with offset/depth anchors are also
tried on the chunk alone (the packet view); ``dsize`` rules see only the chunk.

A chunk larger than half a window is handled in pieces of half a window, as if each
piece were appended in turn; the whole chunk is prefiltered in one scan and the
literals it holds are placed in pieces (:mod:`.pieces`), so pieces without candidates
cost nothing and no copy of the window is made for them.  The prefilter of a session
holds only the rules that can apply to its service and direction (protocol, ports,
flow direction), except while the protocol of an unknown service is still being
sniffed.  A window verification is skipped when the rule's first content is anchored
(``offset``/``depth``) before the window's start, and the piece verification of an
anchored rule when its first content is not where it must be in the piece: both would
fail on their first test.

Client bytes of an HTTP service also go through the request parser; HTTP rules are
evaluated once per request when the buffers they need are complete.

Within one ``feed`` a ``pass`` rule match suppresses every alert of that feed.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from ..base import Alert, FlowInfo
from . import buffers as B
from .engine import Group
from .http import HttpRequest, HttpRequestParser, looks_like_http
from .match import Buffer, lead_absent, match_chain
from .pieces import Layout
from .profile import WELL_KNOWN, Side, guess_protocol, session_applies
from .rule import Rule, Threshold
from .tls import applies, handshake_buffers

if TYPE_CHECKING:
    from .detector import SignatureDetector



def _live(pending: dict[int, int], base: int, bounds: Sequence[int | None]) -> dict[int, int]:
    """The pending rules still worth verifying once the window starts at ``base``.

    A rule is dropped when its literal has left the window, or when the window has
    passed its anchored first content (``Engine.window_bound``): then only its piece
    view could match, which needs its literal in that piece, and so it is a candidate
    again, through the prefilter, in any piece where it could.
    """
    return {r: e for r, e in pending.items()
            if e > base and ((b := bounds[r]) is None or b > base)}


class _Window:
    __slots__ = ("buf", "base", "pending", "bounds")

    def __init__(self, bounds: Sequence[int | None]) -> None:
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0]
        self.pending: dict[int, int] = {}  # rule id -> stream offset its literal ends by
        self.bounds = bounds  # Engine.window_bound

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def append(self, data: bytes, limit: int) -> None:
        """Add bytes, keep the last ``limit``; forget pending rules no longer live."""
        if len(data) >= limit:
            self.base += len(self.buf) + len(data) - limit
            self.buf = bytearray(data[len(data) - limit :])
        else:
            self.buf += data
            extra = len(self.buf) - limit
            if extra <= 0:
                return
            del self.buf[:extra]
            self.base += extra
        if self.pending:
            self.pending = _live(self.pending, self.base, self.bounds)

    def tail(self, size: int) -> bytes:
        return bytes(self.buf[len(self.buf) - min(size, len(self.buf)) :])

    def current(self) -> Buffer:
        return Buffer(bytes(self.buf), self.base)

    def after(self, data: bytes, stop: int, limit: int) -> Buffer:
        """The window as it will be once ``data[:stop]`` is appended (not applied)."""
        keep = min(limit, len(self.buf) + stop)
        base = self.end + stop - keep
        if stop >= keep:
            return Buffer(data[stop - keep : stop], base)
        return Buffer(bytes(self.buf[len(self.buf) - (keep - stop) :]) + data[:stop], base)


class SignatureInspector:
    """Inspects one session for one :class:`SignatureDetector`."""

    def __init__(self, detector: SignatureDetector, flow: FlowInfo) -> None:
        self.det = detector
        self.flow = flow
        bounds = detector.engine.window_bound
        self.windows = {True: _Window(bounds), False: _Window(bounds)}
        self.bits: set[str] = set()
        self.proto: str | None = detector.protocols.get(flow.service) or guess_protocol(flow.dest_port)
        self.http: HttpRequestParser | None = None
        self._extra: dict[tuple[str, bool], tuple[frozenset[int], frozenset[int]]] = {}
        self._groups: dict[tuple[str, bool], Group] = {}
        self._alerts: list[Alert] = []
        self._passed = False
        if self.proto == "http":
            self.http = detector.new_http_parser()

    # ------------------------------------------------------------------ feed
    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        if not data:
            return ()
        # An exception goes to the session's Inspection, which reports it and leaves this
        # inspector out from then on (its stream state may be half-updated).
        self._alerts, self._passed = [], False
        self._feed(data, to_server)
        alerts, self._alerts = self._alerts, []
        return () if self._passed else alerts

    def finish(self) -> Sequence[Alert]:
        return ()  # every rule matches as the bytes arrive: nothing waits for the end

    def handshake(self, info: Any) -> Sequence[Alert]:
        """Match the handshake rules on the session's TLS handshake (once, at its end)."""
        rules = self.det.handshake_rules
        if not rules:
            return ()
        self._alerts, self._passed = [], False
        bufs = handshake_buffers(info)
        flow = self.flow
        for rule in rules:
            if rule.tls_version is not None and rule.tls_version != info.version:
                continue
            if applies(rule, flow.dest_port, flow.src_ip, flow.dest_ip) and self._verify(rule, bufs, -1):
                self._matched(rule, True)
        alerts, self._alerts = self._alerts, []
        return () if self._passed else alerts

    def _feed(self, data: bytes, to_server: bool) -> None:
        backlog = b""
        if self.proto is None and to_server:
            backlog = self._sniff(data)
        self._stream(data, to_server)
        if to_server and self.http is not None and self.http.active:
            for level, req in self.http.feed(backlog + data):
                self._http_event(level, req)

    def _sniff(self, data: bytes) -> bytes:
        """Decide whether an unknown service speaks HTTP; return earlier client bytes."""
        seen = bytes(self.windows[True].buf)
        head = (seen + data)[:32]
        if looks_like_http(head):
            self.proto = "http"
            self.http = self.det.new_http_parser()
            return seen
        if len(head) >= 16 or b" " in head or b"\n" in head:
            self.proto = "tcp"
        return b""

    def _allowed(self, to_server: bool) -> tuple[frozenset[int], frozenset[int]]:
        proto = self.proto or "tcp"
        key = (proto, to_server)
        found = self._extra.get(key)
        if found is None:
            profile = self.det.profile(proto, self._server_ports(proto), to_server)
            client = Side(self.flow.src_ip, (self.flow.src_port,))
            server = Side(self.flow.dest_ip, self._server_ports(proto))
            rules = self.det.engine.rules
            extra = frozenset(r for r in profile.per_session
                              if session_applies(rules[r], client, server, to_server))
            found = self._extra[key] = (profile.allowed, extra)
        return found

    def _server_ports(self, proto: str) -> tuple[int, ...]:
        known = WELL_KNOWN.get(proto)
        port = self.flow.dest_port
        return (port,) if known is None or known == port else (port, known)

    def _filter(self, candidates: set[int], to_server: bool) -> list[int]:
        allowed, extra = self._allowed(to_server)
        keep = candidates & allowed
        if extra:
            keep |= candidates & extra
        if len(keep) < 2:
            return list(keep)
        return sorted(keep, key=self.det.engine.order_key.__getitem__)

    # ---------------------------------------------------------------- stream
    def _stream(self, data: bytes, to_server: bool) -> None:
        engine = self.det.engine
        group = self._stream_group(to_server)
        if len(data) <= max(1, self.det.limits.stream_window // 2):
            lits = self._one_piece(data, to_server, group)
        else:
            lits = self._pieces(data, to_server, group)
        hits: set[int] = set()
        for lit in lits:
            hits.update(group.rules_of[lit])
        packet = hits & engine.packet_ids
        packet.update(engine.packet_unfiltered[to_server])
        if packet:
            chunk = Buffer(data)
            for rid in self._filter(packet, to_server):
                rule = engine.rules[rid]
                if rule.dsize is None or rule.dsize.test(len(data)):
                    if self._verify(rule, {B.PKT: chunk}, -1):
                        self._matched(rule, to_server)

    def _one_piece(self, data: bytes, to_server: bool, group: Group) -> set[int]:
        """Append a chunk of at most half a window, verify; the literals it held."""
        engine, win = self.det.engine, self.windows[to_server]
        tail = win.tail(group.overlap)
        old_end = win.end
        win.append(data, self.det.limits.stream_window)
        lits = group.prefilter.scan(tail + data if tail else data)
        if lits:
            pending, end, packet_ids = win.pending, win.end, engine.packet_ids
            for lit in lits:
                for rid in group.rules_of[lit]:
                    if rid not in packet_ids:
                        pending[rid] = end
        unfiltered = engine.stream_unfiltered[to_server]
        if win.pending or unfiltered:
            cands = set(win.pending)
            cands.update(unfiltered)
            self._check(cands, to_server, data, 0, len(data), old_end, win.base, win.current)
        return lits

    def _pieces(self, data: bytes, to_server: bool, group: Group) -> set[int]:
        """Append a larger chunk and verify candidates piece by piece, as if each piece
        were appended in turn (one prefilter scan; pieces without candidates skipped)."""
        engine, win = self.det.engine, self.windows[to_server]
        limit = self.det.limits.stream_window
        layout = Layout(len(data), max(1, limit // 2), limit, group.overlap, len(win.buf))
        placed = group.place(layout, win.tail(layout.tail), data)
        lits = {lit for piece in placed for lit in piece}
        unfiltered = engine.stream_unfiltered[to_server]
        if not (lits or win.pending or unfiltered):
            win.append(data, limit)
            return lits
        start_end = win.end  # stream offset of data[0]
        packet_ids = engine.packet_ids
        pending = win.pending
        last, step, size = layout.count - 1, layout.step, layout.size
        for k in range(layout.count):
            if not (placed[k] or pending or unfiltered):
                continue
            ps = k * step
            pe = min(size, ps + step)
            if k == last:  # the window as it stays: append for real
                win.pending = pending
                win.append(data, limit)
                base, pending = win.base, win.pending
            else:
                base = start_end + pe - min(limit, len(win.buf) + pe)
                if pending:
                    pending = _live(pending, base, engine.window_bound)
            for lit in placed[k]:
                for rid in group.rules_of[lit]:
                    if rid not in packet_ids:
                        pending[rid] = start_end + pe
            if not (pending or unfiltered):
                continue
            cands = set(pending)
            cands.update(unfiltered)
            window_of = win.current if k == last else partial(win.after, data, pe, limit)
            self._check(cands, to_server, data, ps, pe, start_end + ps, base, window_of)
        win.pending = pending
        if win.end == start_end:  # the last piece had nothing to do
            win.append(data, limit)
        return lits

    def _check(self, cands: set[int], to_server: bool, data: bytes, ps: int, pe: int,
               old_end: int, base: int, window_of: Callable[[], Buffer]) -> None:
        """Verify candidates once ``data[ps:pe]`` is in the window (whose base is
        ``base``; ``window_of`` builds it); anchored rules also on the piece alone."""
        engine = self.det.engine
        bounds = engine.window_bound
        window: Buffer | None = None
        chunk: Buffer | None = None
        for rid in self._filter(cands, to_server):
            rule = engine.rules[rid]
            bound = bounds[rid]
            if bound is None or base < bound:  # else its anchored content left the window
                if window is None:
                    window = window_of()
                if self._verify(rule, {B.PKT: window}, old_end - base):
                    self._matched(rule, to_server)
                    continue
            if rule.anchored and old_end > 0:
                if any(lead_absent(c, data, ps, pe) for c in rule.chains):
                    continue
                chunk = chunk or Buffer(data[ps:pe])
                if self._verify(rule, {B.PKT: chunk}, -1):
                    self._matched(rule, to_server)

    def _stream_group(self, to_server: bool) -> Group:
        """The prefilter of the rules that can apply to this direction of the session."""
        if self.proto is None:
            # not yet known: every rule may apply once it is (their literals stay pending)
            return self.det.engine.stream[to_server]
        key = (self.proto, to_server)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = self.det.stream_group(
                self.proto, self._server_ports(self.proto), to_server)
        return group

    # ------------------------------------------------------------------ http
    def _http_event(self, level: int, req: HttpRequest) -> None:
        engine = self.det.engine
        for name in engine.http_buffers(level):
            data = req.buffer(name)
            if data:
                engine.http[name].scan_by_level(data, req.rule_hits)
        cands = req.rule_hits.pop(level, set())
        cands.update(engine.http_unfiltered.get(level, ()))
        if not cands:
            return
        bufs: dict[str, Buffer | None] = {}
        for rid in self._filter(cands, True):
            rule = engine.rules[rid]
            if rule.urilen and not _urilen_ok(rule, req):
                continue
            for chain in rule.chains:
                if chain.buffer not in bufs:
                    bufs[chain.buffer] = self._request_buffer(req, chain.buffer)
            if self._verify(rule, bufs, -1):
                self._matched(rule, True)

    def _request_buffer(self, req: HttpRequest, name: str) -> Buffer | None:
        if name == B.PKT:
            win = self.windows[True]
            return Buffer(bytes(win.buf), win.base)
        data = req.buffer(name)
        return None if data is None else Buffer(data)

    # ---------------------------------------------------------------- verify
    def _verify(self, rule: Rule, bufs: dict[str, Buffer | None], min_end: int) -> bool:
        for op in rule.flowbit_checks:
            if not op.holds(self.bits):
                return False
        for chain in rule.chains:
            buf = bufs.get(chain.buffer)
            if buf is None:
                return False
            if not match_chain(buf, chain, min_end if chain.buffer == B.PKT else -1,
                               self.det.match_options):
                return False
        return True

    def _matched(self, rule: Rule, to_server: bool) -> None:
        for op in rule.flowbit_sets:
            op.apply(self.bits, self.det.limits.max_flowbits)
        if rule.action == "pass":
            self._passed = True
            return
        if rule.noalert:
            return
        for spec in (rule.detection_filter, rule.threshold):
            if spec is not None and not self.det.thresholds.allow(spec, self._track(rule, spec, to_server)):
                return
        self._alerts.append(self.det.make_alert(rule, to_server))

    def _track(self, rule: Rule, spec: Threshold, to_server: bool) -> tuple[object, ...]:
        client, server = self.flow.src_ip, self.flow.dest_ip
        src, dst = (client, server) if to_server else (server, client)
        value: object = {"by_src": src, "by_dst": dst, "by_both": (src, dst),
                         "by_flow": self.flow.session_id}.get(spec.track, "")
        return (rule.gid, rule.sid, spec.kind, spec.track, value)


def _urilen_ok(rule: Rule, req: HttpRequest) -> bool:
    assert rule.urilen is not None
    cmp, raw = rule.urilen
    uri = req.buffer("http.uri.raw" if raw else "http.uri")
    return uri is not None and cmp.test(len(uri))
