"""Length buckets for the PAYL model, and the rule that merges sparse ones.

PAYL keeps one byte-frequency model per payload length, because short and long requests
of one service have different byte mixes.  Length bins start geometric: edges
``0, first, first*ratio, first*ratio**2, ...`` (defaults 16 and 1.25, so each bin is a
quarter wider than the one before), which gives small requests fine bins and large ones
coarse bins.

**Merging rule.**  Walk the bins from the shortest up, adding neighbouring bins together
until the group holds at least ``min_samples`` training requests; that group is one
bucket.  A leftover group at the long end with fewer than ``min_samples`` joins the bucket
before it.  So every bucket has at least ``min_samples`` samples (unless the whole
training set is smaller, giving a single bucket), empty bins vanish into their
neighbours, and the buckets are contiguous: the first starts at length 0 and the last
reaches to infinity, so every length has a bucket.  (PAYL also merges neighbours whose
centroids are close; we keep only the sample-count rule, which is what makes σ trustworthy.)
"""
from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

IntArray: TypeAlias = npt.NDArray[np.int64]
MAX_BUCKETS = 4096


def initial_edges(max_length: int, first: int = 16, ratio: float = 1.25) -> IntArray:
    """Lower edges of the geometric bins covering ``0..max_length``."""
    if first < 1 or ratio <= 1.0:
        raise ValueError("bucket edges need first >= 1 and ratio > 1")
    edges = [0, first]
    while edges[-1] <= max_length and len(edges) < MAX_BUCKETS:
        edges.append(max(edges[-1] + 1, int(round(edges[-1] * ratio))))
    return np.array(edges, dtype=np.int64)


def bucket_of(edges: IntArray, lengths: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Index of the bucket each length falls in (edges are lower bounds, edges[0] == 0)."""
    return np.searchsorted(edges, lengths, side="right") - 1


def merge_edges(lengths: IntArray, min_samples: int, first: int = 16, ratio: float = 1.25) -> IntArray:
    """Bucket lower edges such that each bucket holds >= ``min_samples`` of ``lengths``."""
    if lengths.size == 0:
        raise ValueError("no training samples")
    edges = initial_edges(int(lengths.max()), first, ratio)
    counts = np.bincount(bucket_of(edges, lengths), minlength=len(edges))
    merged = [0]
    acc = 0
    for i, c in enumerate(counts[:-1]):  # a loop over bins, not bytes
        acc += int(c)
        if acc >= min_samples:
            merged.append(int(edges[i + 1]))
            acc = 0
    acc += int(counts[-1])
    if acc < min_samples and len(merged) > 1:
        merged.pop()
    return np.array(merged, dtype=np.int64)
