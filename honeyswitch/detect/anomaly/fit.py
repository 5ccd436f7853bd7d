"""Fit an :class:`AnomalyModel` to benign requests and calibrate its threshold.

**Calibration (out-of-fold).**  Scoring a model on its own training requests flatters it
(every byte it saw is "normal"), so units and threshold come from scores the model could
not have memorised: the training requests are shuffled (fixed seed) into ``folds`` parts;
for each part, a model fitted on the other parts computes that part's raw feature parts.
From these out-of-fold values:

1. each part's *unit* is its ``unit_quantile`` (0.99), floored by ``model.FLOORS``;
2. each request's out-of-fold score is the sum of its parts / units;
3. the **threshold** is the ``quantile`` (0.99) of those scores times ``margin`` (1.0).

So on traffic like the training traffic about ``1 - quantile`` (1 %) of benign requests
should score above it; raise ``quantile`` or ``margin`` for fewer false positives at the
cost of detections.  The final model is fitted on all requests and carries these units
and threshold.  At least ``MIN_SAMPLES`` requests are needed.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .features import VIEWS, FeatureMatrix, RequestFeatures, feature_matrix
from .model import FLOORS, PARTS, AnomalyModel, ModelConfig
from .ngram import BloomFilter, check_params
from .payl import FloatArray, fit_view

MIN_SAMPLES = 10


def check_config(cfg: ModelConfig) -> None:
    """Reject nonsense knobs with one clear message each."""
    checks = [
        (cfg.alpha > 0 and np.isfinite(cfg.alpha), "alpha must be > 0"),
        (cfg.min_bucket_samples >= 1, "min_bucket_samples must be >= 1"),
        (cfg.bucket_first >= 1 and cfg.bucket_ratio > 1, "bucket_first must be >= 1 and bucket_ratio > 1"),
        (0.0 < cfg.quantile <= 1.0 and 0.0 < cfg.unit_quantile <= 1.0, "quantiles must be in (0, 1]"),
        (cfg.margin > 0, "margin must be > 0"),
        (cfg.folds >= 2, "folds must be >= 2"),
        (0.0 <= cfg.rare_df < 1.0, "rare_df must be in [0, 1)"),
        (bool(cfg.views) and set(cfg.views) <= set(VIEWS), f"views must be among {VIEWS}"),
        (set(cfg.parts) <= set(PARTS), f"parts must be among {PARTS}"),
        (bool(cfg.parts) or cfg.ngram > 0, "at least one part must be enabled"),
        (min(cfg.shape.cap, cfg.shape.head_len, cfg.shape.tail_len) >= 1, "shape sizes must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    if cfg.ngram:
        check_params(cfg.ngram, cfg.ngram_k, cfg.ngram_bits_log2)


def fit(requests: Sequence[bytes], config: ModelConfig | None = None, service: str = "",
        lengths: Sequence[int] | None = None) -> AnomalyModel:
    """Model of ``requests`` (``lengths``: true lengths when the bytes were capped)."""
    cfg = config or ModelConfig()
    check_config(cfg)
    if len(requests) < MIN_SAMPLES:
        raise ValueError(f"need at least {MIN_SAMPLES} training requests, got {len(requests)}")
    raw, fm = _features(requests, cfg, lengths)
    oof = out_of_fold_parts(fm, raw, cfg)
    units = {k: max(float(np.quantile(v, cfg.unit_quantile)), FLOORS[k.split("_")[0]]) for k, v in oof.items()}
    scores = np.sum([v / units[k] for k, v in oof.items()], axis=0)
    threshold = max(float(np.quantile(scores, cfg.quantile)) * cfg.margin, 1e-9)
    return fit_once(fm, raw, cfg, service, units, threshold)


def _features(requests: Sequence[bytes], cfg: ModelConfig,
              lengths: Sequence[int] | None) -> tuple[list[bytes], FeatureMatrix]:
    raw = [bytes(r[: cfg.shape.cap]) for r in requests]
    true_lengths = [len(r) for r in requests] if lengths is None else list(lengths)
    if len(true_lengths) != len(raw):
        raise ValueError("lengths and requests differ in number")
    items = [RequestFeatures.of(r, cfg.shape, n) for r, n in zip(raw, true_lengths, strict=True)]
    return raw, feature_matrix(items)


def fit_once(fm: FeatureMatrix, raw: Sequence[bytes], cfg: ModelConfig, service: str,
             units: dict[str, float], threshold: float) -> AnomalyModel:
    views = {
        v: fit_view(fm.freqs[v], fm.lengths[v], cfg.alpha, cfg.min_bucket_samples,
                    cfg.bucket_first, cfg.bucket_ratio)
        for v in cfg.views
    }
    rare = {v: (fm.rare[v] > 0).mean(axis=0) <= cfg.rare_df
            for v in cfg.views}
    bloom = None
    if cfg.ngram:
        bloom = BloomFilter.empty(cfg.ngram, cfg.ngram_k, cfg.ngram_bits_log2)
        bloom.add_many(list(raw))
    return AnomalyModel(
        service=service, config=cfg, views=views, rare=rare, max_length=int(fm.total.max()),
        nonprint_ref=float(np.quantile(fm.nonprint, 0.99)), units=units, threshold=threshold,
        n_samples=len(fm), bloom=bloom,
    )


def novelty_of(model: AnomalyModel, raw: Sequence[bytes]) -> FloatArray | None:
    if model.bloom is None:
        return None
    pairs = [model.bloom.novel_count(r) for r in raw]
    return np.array([a / b if b else 0.0 for a, b in pairs], dtype=np.float64)


def out_of_fold_parts(fm: FeatureMatrix, raw: Sequence[bytes], cfg: ModelConfig) -> dict[str, FloatArray]:
    """Each request's raw parts under a model fitted without its fold."""
    n = len(fm)
    perm = np.random.default_rng(0).permutation(n)
    out: dict[str, FloatArray] = {}
    for held in np.array_split(perm, min(cfg.folds, n)):
        train = np.setdiff1d(perm, held)
        model = fit_once(fm.subset(train), [raw[i] for i in train], cfg, "", {}, 1.0)
        parts = model.raw_parts(fm.subset(held), novelty_of(model, [raw[i] for i in held]))
        for k, v in parts.items():
            out.setdefault(k, np.zeros(n))[held] = v
    return out


def score_many(model: AnomalyModel, requests: Sequence[bytes]) -> FloatArray:
    """Scores of many requests under ``model``, vectorised (for reports and evaluation)."""
    raw, fm = _features(requests, model.config, None)
    return model.score_matrix(fm, novelty_of(model, raw))
