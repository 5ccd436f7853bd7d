"""PAYL byte-frequency model of one view, per length bucket.

For each bucket b the model keeps the mean ȳ and standard deviation σ of the 256
relative byte frequencies of its training requests, and scores a request x with PAYL's
simplified Mahalanobis distance

    d(x) = Σ_i |x_i − ȳ_i| / (σ_i + α)          (α = 0.001 by default)

where α smooths bytes that never varied (σ = 0).  Raw distances are not comparable across
buckets (a bucket of short, varied requests has larger distances than one of long, regular
ones), so each bucket also keeps ``scale``: the mean distance of its own training requests.
The view's score is d / scale, "how many times the typical distance of this length".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from .buckets import bucket_of, merge_edges

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
SCALE_FLOOR = 1.0  # a bucket whose requests were all identical still has a usable unit


@dataclass(frozen=True, slots=True)
class ViewModel:
    edges: IntArray  # (B,) lower length bound of each bucket; edges[0] == 0
    mean: FloatArray  # (B, 256) mean relative frequency
    std: FloatArray  # (B, 256) standard deviation
    count: IntArray  # (B,) training samples per bucket
    scale: FloatArray  # (B,) mean training distance per bucket
    inv: FloatArray  # (B, 256) 1 / (std + alpha), precomputed

    @classmethod
    def build(cls, edges: IntArray, mean: FloatArray, std: FloatArray, count: IntArray,
              scale: FloatArray, alpha: float) -> ViewModel:
        return cls(edges, mean, std, count, scale, 1.0 / (std + alpha))

    def bucket(self, length: int) -> int:
        return int(bucket_of(self.edges, length))

    def distance(self, freq: FloatArray, length: int) -> tuple[float, int]:
        """(raw PAYL distance, bucket) of one request."""
        b = self.bucket(length)
        return float(np.abs(freq - self.mean[b]) @ self.inv[b]), b

    def zscore(self, freq: FloatArray, length: int) -> float:
        d, b = self.distance(freq, length)
        return d / self.scale[b]

    def distances(self, freqs: FloatArray, lengths: IntArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """Vectorised :meth:`distance` over rows."""
        b = bucket_of(self.edges, lengths)
        d = np.einsum("ij,ij->i", np.abs(freqs - self.mean[b]), self.inv[b])
        return d, b

    def zscores(self, freqs: FloatArray, lengths: IntArray) -> FloatArray:
        d, b = self.distances(freqs, lengths)
        return d / self.scale[b]


def fit_view(freqs: FloatArray, lengths: IntArray, alpha: float, min_samples: int,
             first: int = 16, ratio: float = 1.25) -> ViewModel:
    """Fit a view: merged length buckets, per-bucket mean/σ, then per-bucket scale."""
    edges = merge_edges(lengths, min_samples, first, ratio)
    b = bucket_of(edges, lengths)
    nb = len(edges)
    count = np.bincount(b, minlength=nb).astype(np.int64)
    onehot = (b[None, :] == np.arange(nb)[:, None]).astype(np.float64)  # (B, n); B is small
    x = freqs.astype(np.float64)
    sums = onehot @ x
    sq = onehot @ (x * x)
    n = np.maximum(count, 1)[:, None]
    mean = sums / n
    std = np.sqrt(np.maximum(sq / n - mean * mean, 0.0))
    partial = ViewModel.build(edges, mean, std, count, np.ones(nb), alpha)
    d, _ = partial.distances(freqs, lengths)
    scale = np.bincount(b, weights=d, minlength=nb) / np.maximum(count, 1)
    return ViewModel.build(edges, mean, std, count, np.maximum(scale, SCALE_FLOOR), alpha)
