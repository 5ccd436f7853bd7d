"""Optional n-gram novelty (Anagram-like), in a bounded Bloom filter.  OFF by default.

Anagram (Wang, Parekh & Stolfo, RAID 2006) remembers every distinct n-gram of normal
payloads in a Bloom filter and scores a payload by the fraction of its n-grams the filter
has never seen.  It catches short injections that barely move a 1-gram histogram.

Patent note (see shared/notes/ids-formats-and-detection.md §0.8): Anagram is covered by
Columbia University patents US 8,381,299 and US 8,448,242 (the first expires about
2030-01).  This part is therefore opt-in (``ModelConfig(ngram=3)``, ``train --ngram 3``)
and off by default; whoever turns it on should have checked that they may.  Not legal
advice.

The filter is a fixed-size numpy bit array (2**bits_log2 bits, k hashes), so memory is
bounded however much training data there is; its fill ratio is reported, because a
saturated filter "has seen" everything and the score collapses towards zero.  N-grams are
hashed with a vectorised polynomial hash over ``sliding_window_view``, then mixed; the k
bit positions come from multiply-shift hashing of that value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

U64: TypeAlias = npt.NDArray[np.uint64]
_PRIME = np.uint64(0x100000001B3)
_MIX = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
_MULTS = np.array(
    [0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93,
     0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3],
    dtype=np.uint64,
)
MAX_N = 8
MAX_K = len(_MULTS)
MIN_BITS_LOG2, MAX_BITS_LOG2 = 10, 27  # 128 B .. 16 MiB of filter


def ngram_hashes(data: bytes, n: int) -> U64:
    """One mixed 64-bit hash per n-gram of ``data`` (empty if shorter than n)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    if arr.size < n:
        return np.zeros(0, dtype=np.uint64)
    win = np.lib.stride_tricks.sliding_window_view(arr, n).astype(np.uint64)
    h = np.zeros(win.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):  # n columns, each a vector op over all positions
            h = h * _PRIME + win[:, j] + np.uint64(1)
        h ^= h >> np.uint64(33)
        h *= _MIX[0]
        h ^= h >> np.uint64(33)
        h *= _MIX[1]
        h ^= h >> np.uint64(33)
    return h


@dataclass(slots=True)
class BloomFilter:
    """Packed bit array of 2**bits_log2 bits probed with k multiply-shift hashes."""

    n: int
    k: int
    bits_log2: int
    bits: npt.NDArray[np.uint8]  # packed, little bit order, length 2**bits_log2 // 8

    @classmethod
    def empty(cls, n: int = 3, k: int = 3, bits_log2: int = 22) -> BloomFilter:
        check_params(n, k, bits_log2)
        return cls(n, k, bits_log2, np.zeros(1 << (bits_log2 - 3), dtype=np.uint8))

    def _positions(self, hashes: U64) -> U64:
        shift = np.uint64(64 - self.bits_log2)
        with np.errstate(over="ignore"):
            return ((hashes[None, :] * _MULTS[: self.k, None]) >> shift).ravel()

    def add(self, data: bytes) -> None:
        self.add_hashes(ngram_hashes(data, self.n))

    def add_many(self, items: list[bytes]) -> None:
        if items:
            self.add_hashes(np.concatenate([ngram_hashes(d, self.n) for d in items]))

    def add_hashes(self, hashes: U64) -> None:
        pos = self._positions(hashes)
        byte_idx = (pos >> np.uint64(3)).astype(np.intp)
        bit = (pos & np.uint64(7)).astype(np.uint8)
        for j in range(8):  # one vector OR per bit position (duplicates are harmless)
            self.bits[byte_idx[bit == j]] |= np.uint8(1 << j)

    def seen(self, hashes: U64) -> npt.NDArray[np.bool_]:
        """For each n-gram hash: might it have been added? (no false negatives)."""
        if hashes.size == 0:
            return np.zeros(0, dtype=bool)
        pos = self._positions(hashes)
        hit = (self.bits[(pos >> np.uint64(3)).astype(np.intp)] >> (pos & np.uint64(7)).astype(np.uint8)) & 1
        return np.asarray(hit.reshape(self.k, -1).all(axis=0), dtype=bool)

    def novel_count(self, data: bytes) -> tuple[int, int]:
        """(n-grams never seen, n-grams) of ``data``."""
        h = ngram_hashes(data, self.n)
        return int(h.size - int(self.seen(h).sum())), int(h.size)

    def fill_ratio(self) -> float:
        return float(np.unpackbits(self.bits).mean())


def check_params(n: int, k: int, bits_log2: int) -> None:
    if not 2 <= n <= MAX_N:
        raise ValueError(f"ngram n must be in 2..{MAX_N}, got {n}")
    if not 1 <= k <= MAX_K:
        raise ValueError(f"ngram hash count k must be in 1..{MAX_K}, got {k}")
    if not MIN_BITS_LOG2 <= bits_log2 <= MAX_BITS_LOG2:
        raise ValueError(f"ngram bits_log2 must be in {MIN_BITS_LOG2}..{MAX_BITS_LOG2}, got {bits_log2}")


class NgramCounter:
    """Incremental novelty count of one request against a filter (carries n-1 bytes)."""

    __slots__ = ("_filter", "_carry", "novel", "total")

    def __init__(self, bloom: BloomFilter) -> None:
        self._filter = bloom
        self._carry = b""
        self.novel = 0
        self.total = 0

    def update(self, data: bytes) -> None:
        joined = self._carry + data
        novel, total = self._filter.novel_count(joined)
        self.novel += novel
        self.total += total
        self._carry = joined[-(self._filter.n - 1):]

    def novelty(self) -> float:
        return self.novel / self.total if self.total else 0.0
