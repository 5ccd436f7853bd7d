"""The per-request scoring path, flattened for speed.

Scoring one request inline should cost a few numpy calls, not a few per view: the
views' bucket tables are stacked into one array at load time, every view's histogram
comes from one ``bincount`` (:meth:`RequestFeatures.snapshot`), and one gather plus one
reduction gives all PAYL distances.  The batch path in :mod:`.model` computes the same
numbers over many requests (the tests check they agree).
"""
from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np
import numpy.typing as npt

from .features import VIEWS, Snapshot
from .payl import FloatArray, ViewModel


class Tables:
    """All views' bucket statistics stacked: row ``offset[v] + bucket`` is view v's bucket."""

    __slots__ = ("names", "rows", "all_rows", "edges", "offsets", "mean", "inv", "scale", "rare")

    def __init__(self, views: dict[str, ViewModel], rare: dict[str, npt.NDArray[np.bool_]]) -> None:
        self.names = list(views)
        self.rows = [VIEWS.index(v) for v in self.names]
        self.all_rows = self.rows == [0, 1, 2]
        self.edges = [views[v].edges.tolist() for v in self.names]
        sizes = [len(e) for e in self.edges]
        self.offsets = [int(x) for x in np.cumsum([0, *sizes[:-1]])]
        self.mean: FloatArray = np.concatenate([views[v].mean for v in self.names])
        self.inv: FloatArray = np.concatenate([views[v].inv for v in self.names])
        self.scale: FloatArray = np.concatenate([views[v].scale for v in self.names])
        self.rare = np.array([rare[v] for v in self.names], dtype=np.float64).reshape(len(self.names), 256)

    def payl(self, snap: Snapshot) -> float:
        """Mean over views of PAYL distance / bucket scale."""
        lens = [snap.lengths[r] for r in self.rows]
        idx = [off + bisect_right(e, n) - 1 for off, e, n in zip(self.offsets, self.edges, lens, strict=True)]
        counts = snap.counts if self.all_rows else snap.counts[self.rows]
        x = counts / np.array([max(n, 1) for n in lens], dtype=np.float64)[:, None]
        d = (np.abs(x - self.mean[idx]) * self.inv[idx]).sum(axis=1) / self.scale[idx]
        return float(d.sum()) / len(idx)

    def rare_parts(self, snap: Snapshot) -> dict[str, float]:
        """log2(1 + rare-byte count) per view."""
        counts = ((snap.rare if self.all_rows else snap.rare[self.rows]) * self.rare).sum(axis=1)
        return {f"rare_{v}": math.log2(1.0 + float(c)) for v, c in zip(self.names, counts, strict=True)}
