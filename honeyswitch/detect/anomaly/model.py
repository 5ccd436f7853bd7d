"""A PAYL-style model of one service's normal client requests, and its anomaly score.

A request's score is built from *parts*, each a number that is small for normal traffic:

* ``payl``: PAYL's distance Σ|x_i−ȳ_i|/(σ_i+α) of each view (full request, first line,
  last bytes; :mod:`.features`) against its length bucket, divided by the bucket's typical
  training distance, averaged over the views (:mod:`.payl`);
* ``rare_<view>``: log2(1 + how many bytes of the view are *rare* for it), where rare
  byte values are those that at most ``rare_df`` of the training requests contained at
  all (default 0: never seen in that view).  A 1-gram histogram barely moves when 20 odd
  bytes sit in a 600-byte request; a count of never-seen bytes does.  The log keeps one
  long run from swamping the rest.  ("Never seen" measured better than 0.1-1 %, whose
  rare sets include bytes of benign UTF-8 text and so raise the threshold);
* ``length``: log2(length / longest training request), when longer than any seen;
* ``nonprint`` (off by default): fraction of non-printable bytes above the training 99th
  percentile.  The evaluation measured no gain from it (PAYL's terms for never-seen bytes
  already flag binary junk in a text protocol), so it is opt-in via ``parts``;
* ``ngram`` (optional, off by default; patent note in :mod:`.ngram`): fraction of the
  request's n-grams never seen in training.

Each part is divided by its *unit*: its out-of-fold 99th percentile over the training
requests, floored (``FLOORS``) so a part that is always 0 in training (say, rare bytes)
still has a meaningful unit (one rare byte).  The score is the **sum** of the normalised
parts, so weak evidence in two parts adds up (sum beat max when this was developed); the
alert names the largest part.  ``tests/detect/anomaly/test_anomaly_eval.py`` measures
what each part adds.  A request is anomalous when its score exceeds ``threshold``
(:mod:`.fit` explains its calibration).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .features import VIEWS, FeatureMatrix, RequestFeatures, Shape
from .ngram import BloomFilter, NgramCounter
from .payl import FloatArray, ViewModel
from .scorer import Tables

FORMAT_VERSION = 1
PARTS: tuple[str, ...] = ("payl", "rare", "length", "nonprint")
DEFAULT_PARTS: tuple[str, ...] = ("payl", "rare", "length")  # nonprint: no measured gain
FLOORS = {"payl": 0.1, "rare": 1.0, "length": 0.5, "nonprint": 0.02, "ngram": 0.05}
REASONS = {
    "payl": "byte distribution unlike normal requests of this length",
    "rare": "bytes rarely or never seen in normal requests",
    "length": "longer than any normal request",
    "nonprint": "unusually many non-printable bytes",
    "ngram": "many byte sequences never seen in normal requests",
}


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Training knobs; stored with the model so scoring uses the same ones."""

    alpha: float = 0.001
    min_bucket_samples: int = 30
    bucket_first: int = 16
    bucket_ratio: float = 1.25
    shape: Shape = field(default_factory=Shape)
    views: tuple[str, ...] = VIEWS
    parts: tuple[str, ...] = DEFAULT_PARTS  # which parts count (see PARTS; for ablation)
    rare_df: float = 0.0  # 0: a byte is rare if no training request had it
    ngram: int = 0  # n-gram size; 0 = off (the default: patent note in ngram.py)
    ngram_k: int = 3
    ngram_bits_log2: int = 22
    unit_quantile: float = 0.99
    quantile: float = 0.99
    margin: float = 1.0
    folds: int = 5


@dataclass(frozen=True, slots=True)
class Score:
    """One request's anomaly score and the normalised parts it is the sum of."""

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

    @property
    def top(self) -> str:
        """The part that contributed most."""
        return max(self.parts, key=lambda k: self.parts[k])

    def reason(self) -> str:
        top = self.top
        return REASONS[top.split("_", 1)[0]] + (f" ({top.split('_', 1)[1]})" if "_" in top else "")


def part_names(cfg: ModelConfig) -> list[str]:
    """Names of the parts a model with this config computes (and needs units for)."""
    names = ["payl"] if "payl" in cfg.parts else []
    names += [f"rare_{v}" for v in cfg.views] if "rare" in cfg.parts else []
    names += [p for p in ("length", "nonprint") if p in cfg.parts]
    return names + (["ngram"] if cfg.ngram else [])


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
    rare: dict[str, npt.NDArray[np.bool_]]  # view -> (256,) bytes rare in training
    max_length: int  # longest training request
    nonprint_ref: float  # 99th percentile of training non-printable fractions
    units: dict[str, float]  # part -> its unit (see module docstring)
    threshold: float
    n_samples: int
    bloom: BloomFilter | None = None
    _tables: Tables = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tables", Tables(self.views, self.rare))

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
        raw = self.raw_parts_one(feats, state.ngrams.novelty() if state.ngrams is not None else None)
        parts = {k: v / self.units[k] for k, v in raw.items()}
        return Score(sum(parts.values()), self.threshold, feats.length, parts)

    def raw_parts_one(self, feats: RequestFeatures, novelty: float | None) -> dict[str, float]:
        """Un-normalised parts of one request (the fast path, see :mod:`.scorer`)."""
        cfg = self.config
        snap = feats.snapshot()
        out: dict[str, float] = {}
        if "payl" in cfg.parts:
            out["payl"] = self._tables.payl(snap)
        if "rare" in cfg.parts:
            out.update(self._tables.rare_parts(snap))
        if "length" in cfg.parts:
            out["length"] = max(0.0, math.log2(max(feats.length, 1) / max(self.max_length, 1)))
        if "nonprint" in cfg.parts:
            out["nonprint"] = max(0.0, feats.nonprint_fraction() - self.nonprint_ref)
        if novelty is not None:
            out["ngram"] = novelty
        return out

    def raw_parts(self, fm: FeatureMatrix, novelty: FloatArray | None = None) -> dict[str, FloatArray]:
        """Un-normalised parts of many requests, vectorised (training and calibration)."""
        views = self.config.views
        out: dict[str, FloatArray] = {}
        if "payl" in self.config.parts:
            out["payl"] = np.mean([self.views[v].zscores(fm.freqs[v], fm.lengths[v]) for v in views], axis=0)
        if "rare" in self.config.parts:
            for v in views:
                out[f"rare_{v}"] = np.log2(1.0 + fm.rare[v][:, self.rare[v]].sum(axis=1))
        out.update(self._extras(fm.total, fm.nonprint, novelty))
        return out

    def _extras(self, total: npt.NDArray[np.int64], nonprint: FloatArray,
                novelty: FloatArray | None) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        if "length" in self.config.parts:
            out["length"] = np.maximum(0.0, np.log2(np.maximum(total, 1) / max(self.max_length, 1)))
        if "nonprint" in self.config.parts:
            out["nonprint"] = np.maximum(0.0, nonprint - self.nonprint_ref)
        if novelty is not None:
            out["ngram"] = np.asarray(novelty, dtype=np.float64)
        return out

    def score_matrix(self, fm: FeatureMatrix, novelty: FloatArray | None = None) -> FloatArray:
        """Vectorised total scores of many requests."""
        raw = self.raw_parts(fm, novelty)
        return np.sum([v / self.units[k] for k, v in raw.items()], axis=0)
