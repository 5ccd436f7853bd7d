"""Byte-count features of one client request, accumulated chunk by chunk.

The anomaly model looks at a request through three *views*, each a 256-bin byte histogram
(PAYL's 1-gram model) with its own length:

* ``full``: the whole request (its first ``cap`` bytes);
* ``head``: the first line (up to and excluding the first LF), at most ``head_len`` bytes;
  PAYL tried "the first 100 bytes" too: for line-based protocols this is the request line,
  where most injections sit, undiluted by headers;
* ``tail``: the last ``tail_len`` bytes (of the first ``cap``): a POST body or the last
  command of a pipelined batch.

Besides raw byte counts, each view gives the counts the *rare-byte* part of the score
uses: for ``head`` and ``tail`` these are taken after percent-decoding (``%3C`` -> ``<``,
``+`` -> space) when ``Shape.percent_decode`` is on, so URL-encoded injections show the
bytes they really carry (HTTP inspectors normalise URIs for the same reason).

:class:`RequestFeatures` is updated incrementally, so an inline inspector can score the
request-in-progress at every protocol boundary in O(chunk) work, and keeps at most
``head_len + tail_len`` bytes per session instead of the request itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

VIEWS: tuple[str, ...] = ("full", "head", "tail")
IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]

# Bytes that are not printable ASCII, TAB, LF or CR.
NONPRINT_MASK: npt.NDArray[np.bool_] = np.ones(256, dtype=bool)
NONPRINT_MASK[0x20:0x7F] = False
NONPRINT_MASK[[0x09, 0x0A, 0x0D]] = False


@dataclass(frozen=True, slots=True)
class Shape:
    """How much of a request the features look at (stored with the model)."""

    cap: int = 16384
    head_len: int = 512
    tail_len: int = 256
    percent_decode: bool = False


_HEX = np.full(256, -1, dtype=np.int16)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
    _HEX[bytes([_c]).upper()[0]] = _i


def percent_decode(data: bytes) -> bytes:
    """Decode ``%XX`` escapes and ``+`` (one pass, like urllib's unquote_plus), vectorised."""
    data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    a = np.frombuffer(data, dtype=np.uint8)
    out = a.copy()
    idx = np.flatnonzero(a[:-2] == 0x25)
    hi, lo = _HEX[a[idx + 1]], _HEX[a[idx + 2]]
    ok = (hi >= 0) & (lo >= 0)  # escapes cannot overlap: '%' is not a hex digit
    idx = idx[ok]
    out[idx] = (hi[ok] * 16 + lo[ok]).astype(np.uint8)
    keep = np.ones(a.size, dtype=bool)
    keep[idx + 1] = False
    keep[idx + 2] = False
    return out[keep].tobytes()


def byte_counts(data: bytes | bytearray | memoryview) -> IntArray:
    """256-bin histogram of ``data``, vectorised."""
    if not data:
        return np.zeros(256, dtype=np.int64)
    return np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every view of a request at one moment, rows in ``VIEWS`` order."""

    counts: IntArray  # (3, 256) raw byte counts
    rare: IntArray  # (3, 256) counts for the rare-byte part (decoded head/tail if enabled)
    lengths: tuple[int, int, int]


_OFFSETS = np.arange(4, dtype=np.intp) * 256


class RequestFeatures:
    """Running byte statistics of one request; feed it bytes with :meth:`update`."""

    __slots__ = ("shape", "length", "captured", "_full", "_head", "_head_done", "_tail")

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.length = 0  # every byte seen, including those past the cap
        self.captured = 0  # bytes counted into the histograms (<= cap)
        self._full = np.zeros(256, dtype=np.int64)
        self._head = bytearray()
        self._head_done = False
        self._tail = bytearray()

    @classmethod
    def of(cls, data: bytes, shape: Shape, length: int | None = None) -> RequestFeatures:
        """Features of a whole request; ``length`` is its true length if ``data`` was capped."""
        feats = cls(shape)
        feats.update(data)
        if length is not None and length > feats.length:
            feats.length = length
        return feats

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.length += len(data)
        room = self.shape.cap - self.captured
        if room <= 0 or not data:
            return
        part = bytes(data[:room])
        self.captured += len(part)
        self._full += byte_counts(part)
        self._update_head(part)
        tail = self.shape.tail_len
        self._tail += part[-tail:]
        del self._tail[:-tail]

    def _update_head(self, part: bytes) -> None:
        if self._head_done:
            return
        room = self.shape.head_len - len(self._head)
        nl = part.find(b"\n", 0, room)
        if nl >= 0:
            self._head += part[:nl]
            self._head_done = True
        else:
            self._head += part[:room]
            self._head_done = len(self._head) >= self.shape.head_len

    def snapshot(self) -> Snapshot:
        """Counts of all views at once (a handful of numpy calls, whatever the views)."""
        head, tail = bytes(self._head), bytes(self._tail)
        parts = [head, tail]
        if self.shape.percent_decode:
            parts += [percent_decode(head), percent_decode(tail)]
        arr = np.frombuffer(b"".join(parts), dtype=np.uint8).astype(np.intp)
        arr += np.repeat(_OFFSETS[: len(parts)], [len(p) for p in parts])
        binned = np.bincount(arr, minlength=256 * len(parts)).reshape(len(parts), 256)
        counts = np.empty((3, 256), dtype=np.int64)
        counts[0], counts[1:] = self._full, binned[:2]
        rare = counts
        if self.shape.percent_decode:
            rare = np.empty((3, 256), dtype=np.int64)
            rare[0], rare[1:] = self._full, binned[2:]
        return Snapshot(counts, rare, (self.captured, len(head), len(tail)))

    def view(self, name: str) -> tuple[IntArray, int]:
        """(byte counts, number of bytes) of one view."""
        snap = self.snapshot()
        i = VIEWS.index(name)
        return snap.counts[i], snap.lengths[i]

    def rare_view(self, name: str) -> IntArray:
        """Counts for the rare-byte part: head/tail percent-decoded when enabled."""
        return self.snapshot().rare[VIEWS.index(name)]

    def nonprint_fraction(self) -> float:
        if not self.captured:
            return 0.0
        return float(self._full[NONPRINT_MASK].sum()) / self.captured


@dataclass(frozen=True, slots=True)
class FeatureMatrix:
    """Features of many requests, one row each, for training and batch scoring."""

    freqs: dict[str, FloatArray]  # view -> (n, 256) relative byte frequencies (float32)
    lengths: dict[str, IntArray]  # view -> (n,) view lengths
    rare: dict[str, npt.NDArray[np.int32]]  # view -> (n, 256) counts for the rare-byte part
    total: IntArray  # (n,) true request lengths
    nonprint: FloatArray  # (n,) fraction of non-printable bytes

    def __len__(self) -> int:
        return int(self.total.shape[0])

    def subset(self, idx: npt.NDArray[np.intp]) -> FeatureMatrix:
        return FeatureMatrix(
            {k: v[idx] for k, v in self.freqs.items()},
            {k: v[idx] for k, v in self.lengths.items()},
            {k: v[idx] for k, v in self.rare.items()},
            self.total[idx],
            self.nonprint[idx],
        )


def frequencies(counts: IntArray, length: int | IntArray) -> FloatArray:
    """Relative frequencies; an empty view is all zeros rather than NaN."""
    denom = np.maximum(np.asarray(length, dtype=np.float64), 1.0)
    return counts / (denom[..., None] if np.ndim(denom) else denom)


def feature_matrix(items: list[RequestFeatures]) -> FeatureMatrix:
    """Stack many accumulated requests into matrices."""
    freqs: dict[str, FloatArray] = {}
    lengths: dict[str, IntArray] = {}
    rare: dict[str, npt.NDArray[np.int32]] = {}
    snaps = [f.snapshot() for f in items]
    counts = np.array([sn.counts for sn in snaps], dtype=np.int64).reshape(len(items), 3, 256)
    rares = np.array([sn.rare for sn in snaps], dtype=np.int32).reshape(len(items), 3, 256)
    lens = np.array([sn.lengths for sn in snaps], dtype=np.int64).reshape(len(items), 3)
    for i, name in enumerate(VIEWS):
        freqs[name] = frequencies(counts[:, i], lens[:, i]).astype(np.float32)
        lengths[name] = lens[:, i]
        rare[name] = rares[:, i]
    total = np.array([f.length for f in items], dtype=np.int64)
    nonprint = np.array([f.nonprint_fraction() for f in items], dtype=np.float64)
    return FeatureMatrix(freqs, lengths, rare, total, nonprint)
