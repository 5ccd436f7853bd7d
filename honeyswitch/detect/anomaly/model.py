"""A PAYL-style model of one service's normal client requests, and its anomaly score.

The score of a request adds up, in units of "typical training distance":

* **payl**: the mean over views (full request, first line, last bytes; see
  :mod:`.features`) of the PAYL distance divided by its bucket's typical training
  distance (:mod:`.payl`);
* **length**: ``length_weight * log2(length / longest training request)`` when the request
  is longer than any seen (0 otherwise): overflows and stuffed requests;
* **nonprint**: ``nonprint_weight * (fraction of non-printable bytes - the training
  99th percentile)`` when positive: shellcode and binary junk in a text protocol;
* **ngram** (optional, off by default, see the patent note in :mod:`.ngram`):
  ``ngram_weight * fraction of never-seen n-grams``.

A request is anomalous when its score exceeds the model's ``threshold``, calibrated from
the training data by :mod:`.calibrate` (out-of-fold scores, a high quantile, a margin).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .features import VIEWS, FeatureMatrix, RequestFeatures, Shape, frequencies
from .ngram import BloomFilter, NgramCounter
from .payl import FloatArray, ViewModel

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Training knobs; stored with the model so scoring uses the same ones."""

    alpha: float = 0.001
    min_bucket_samples: int = 30
    bucket_first: int = 16
    bucket_ratio: float = 1.25
    shape: Shape = field(default_factory=Shape)
    views: tuple[str, ...] = VIEWS
    length_weight: float = 2.0
    nonprint_weight: float = 20.0
    ngram: int = 0  # n-gram size; 0 = off (the default: patent note in ngram.py)
    ngram_weight: float = 10.0
    ngram_k: int = 3
    ngram_bits_log2: int = 22
    quantile: float = 0.995
    margin: float = 1.1
    folds: int = 5


@dataclass(frozen=True, slots=True)
class Score:
    """One request's anomaly score and what it is made of."""

    total: float
    threshold: float
    length: int
    parts: dict[str, float]

    @property
    def anomalous(self) -> bool:
        return self.total > self.threshold

    @property
    def ratio(self) -> float:
        """How far over (>1) or under (<1) the threshold."""
        return self.total / self.threshold


class RequestState:
    """The request-in-progress: byte features plus the optional n-gram counter."""

    __slots__ = ("features", "ngrams")

    def __init__(self, shape: Shape, bloom: BloomFilter | None) -> None:
        self.features = RequestFeatures(shape)
        self.ngrams = NgramCounter(bloom) if bloom is not None else None

    def update(self, data: bytes) -> None:
        room = self.features.shape.cap - self.features.captured
        self.features.update(data)
        if self.ngrams is not None and room > 0:
            self.ngrams.update(bytes(data[:room]))

    @property
    def length(self) -> int:
        return self.features.length


@dataclass(frozen=True, slots=True)
class AnomalyModel:
    service: str
    config: ModelConfig
    views: dict[str, ViewModel]
    max_length: int  # longest training request
    nonprint_ref: float  # 99th percentile of training non-printable fractions
    threshold: float
    n_samples: int
    bloom: BloomFilter | None = None

    def new_request(self) -> RequestState:
        return RequestState(self.config.shape, self.bloom)

    def score(self, data: bytes, length: int | None = None) -> Score:
        """Score one whole request (``length``: its true length if ``data`` was capped)."""
        state = self.new_request()
        state.update(data)
        if length is not None and length > state.features.length:
            state.features.length = length
        return self.score_state(state)

    def score_state(self, state: RequestState) -> Score:
        feats = state.features
        z = [self.views[v].zscore(frequencies(*feats.view(v)), feats.view(v)[1]) for v in self.config.views]
        parts = {"payl": float(np.mean(z))}
        parts.update(self._extras(feats.length, feats.nonprint_fraction(),
                                  state.ngrams.novelty() if state.ngrams is not None else None))
        return Score(sum(parts.values()), self.threshold, feats.length, parts)

    def _extras(self, length: int, nonprint: float, novelty: float | None) -> dict[str, float]:
        cfg = self.config
        over = max(0.0, float(np.log2(max(length, 1) / max(self.max_length, 1))))
        out = {"length": cfg.length_weight * over,
               "nonprint": cfg.nonprint_weight * max(0.0, nonprint - self.nonprint_ref)}
        if novelty is not None:
            out["ngram"] = cfg.ngram_weight * novelty
        return out

    def score_matrix(self, fm: FeatureMatrix, novelty: FloatArray | None = None) -> FloatArray:
        """Vectorised total scores of many requests (training and calibration)."""
        cfg = self.config
        z = np.mean([self.views[v].zscores(fm.freqs[v], fm.lengths[v]) for v in cfg.views], axis=0)
        over = np.maximum(0.0, np.log2(np.maximum(fm.total, 1) / max(self.max_length, 1)))
        total = z + cfg.length_weight * over
        total = total + cfg.nonprint_weight * np.maximum(0.0, fm.nonprint - self.nonprint_ref)
        if novelty is not None:
            total = total + cfg.ngram_weight * novelty
        return np.asarray(total, dtype=np.float64)
