"""The piece-by-piece stream inspection as it was before the one-scan path: a test oracle.

Every piece of half a window is prefiltered on its own (with the window's tail), with
the prefilter of *all* rules of the direction, and verified after being appended.  The
production inspector must give the same alerts in the same order.
"""
from __future__ import annotations

from honeyswitch.detect.base import FlowInfo
from honeyswitch.detect.signatures import buffers as B
from honeyswitch.detect.signatures.detector import SignatureDetector
from honeyswitch.detect.signatures.match import Buffer
from honeyswitch.detect.signatures.stream import SignatureInspector


class PlainWindow:
    """The window as it was: pending rules dropped only when their literal left it."""

    __slots__ = ("buf", "base", "pending")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.base = 0
        self.pending: dict[int, int] = {}

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def append(self, data: bytes, limit: int) -> None:
        self.buf += data
        extra = len(self.buf) - limit
        if extra > 0:
            del self.buf[:extra]
            self.base += extra
            self.pending = {r: e for r, e in self.pending.items() if e > self.base}


class PiecewiseInspector(SignatureInspector):
    def __init__(self, detector: SignatureDetector, flow: FlowInfo) -> None:
        super().__init__(detector, flow)
        self.windows = {True: PlainWindow(), False: PlainWindow()}  # type: ignore[dict-item]

    def _stream(self, data: bytes, to_server: bool) -> None:
        step = max(1, self.det.limits.stream_window // 2)
        hits: set[int] = set()
        for start in range(0, len(data), step):
            hits |= self._piece(data[start : start + step], to_server)
        engine = self.det.engine
        packet = hits & engine.packet_ids
        packet.update(engine.packet_unfiltered[to_server])
        if packet:
            chunk = Buffer(data)
            for rid in self._filter(packet, to_server):
                rule = engine.rules[rid]
                if rule.dsize is None or rule.dsize.test(len(data)):
                    if self._verify(rule, {B.PKT: chunk}, -1):
                        self._matched(rule, to_server)

    def _piece(self, piece: bytes, to_server: bool) -> set[int]:
        engine, win = self.det.engine, self.windows[to_server]
        group = engine.stream[to_server]
        tail = win.buf[len(win.buf) - min(group.overlap, len(win.buf)) :]
        old_end = win.end
        win.append(piece, self.det.limits.stream_window)
        hits = group.scan(bytes(tail) + piece)
        for rid in hits - engine.packet_ids:
            win.pending[rid] = win.end
        cands = set(win.pending)
        cands.update(engine.stream_unfiltered[to_server])
        if not cands:
            return hits
        window = Buffer(bytes(win.buf), win.base)
        chunk: Buffer | None = None
        for rid in self._filter(cands, to_server):
            rule = engine.rules[rid]
            if self._verify(rule, {B.PKT: window}, old_end - win.base):
                self._matched(rule, to_server)
            elif rule.anchored and old_end > 0:
                chunk = chunk or Buffer(piece)
                if self._verify(rule, {B.PKT: chunk}, -1):
                    self._matched(rule, to_server)
        return hits
