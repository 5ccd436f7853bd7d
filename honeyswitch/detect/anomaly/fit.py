"""Fit an :class:`AnomalyModel` to benign requests and calibrate its threshold.

**Threshold rule (out-of-fold calibration).**  Scoring a model on its own training
requests flatters it (every byte it saw is "normal"), so the threshold is set from scores
the model could not have memorised: the training requests are shuffled (fixed seed) into
``folds`` parts; for each part, a model is fitted on the other parts and scores that part.
The threshold is the ``quantile`` (default 0.995) of these out-of-fold scores times
``margin`` (default 1.1).  So on traffic like the training traffic, somewhat fewer than
``1 - quantile`` of benign requests should score above it.  The final model is then
fitted on all requests and carries that threshold.  The calibration needs at least
``MIN_SAMPLES`` requests.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .features import FeatureMatrix, RequestFeatures, feature_matrix
from .model import AnomalyModel, ModelConfig
from .ngram import BloomFilter
from .payl import FloatArray, fit_view

MIN_SAMPLES = 10


def check_config(cfg: ModelConfig) -> None:
    """Reject nonsense knobs with one clear message each."""
    checks = [
        (cfg.alpha > 0 and np.isfinite(cfg.alpha), "alpha must be > 0"),
        (cfg.min_bucket_samples >= 1, "min_bucket_samples must be >= 1"),
        (0.0 < cfg.quantile <= 1.0, "quantile must be in (0, 1]"),
        (cfg.margin > 0, "margin must be > 0"),
        (cfg.folds >= 2, "folds must be >= 2"),
        (bool(cfg.views) and set(cfg.views) <= {"full", "head", "tail"}, "views must be full/head/tail"),
        (cfg.shape.cap >= 1 and cfg.shape.head_len >= 1 and cfg.shape.tail_len >= 1, "shape sizes must be >= 1"),
        (min(cfg.length_weight, cfg.nonprint_weight, cfg.ngram_weight) >= 0, "weights must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def fit(requests: Sequence[bytes], config: ModelConfig | None = None, service: str = "",
        lengths: Sequence[int] | None = None) -> AnomalyModel:
    """Model of ``requests`` (``lengths``: true lengths when the bytes were capped)."""
    cfg = config or ModelConfig()
    check_config(cfg)
    if len(requests) < MIN_SAMPLES:
        raise ValueError(f"need at least {MIN_SAMPLES} training requests, got {len(requests)}")
    raw = [bytes(r[: cfg.shape.cap]) for r in requests]
    true_lengths = [len(r) for r in requests] if lengths is None else list(lengths)
    fm = feature_matrix([RequestFeatures.of(r, cfg.shape, n) for r, n in zip(raw, true_lengths, strict=True)])
    oof = out_of_fold_scores(fm, raw, cfg)
    threshold = max(float(np.quantile(oof, cfg.quantile)) * cfg.margin, 1e-9)
    return fit_once(fm, raw, cfg, service, threshold)


def fit_once(fm: FeatureMatrix, raw: Sequence[bytes], cfg: ModelConfig, service: str,
             threshold: float) -> AnomalyModel:
    views = {
        v: fit_view(fm.freqs[v], fm.lengths[v], cfg.alpha, cfg.min_bucket_samples,
                    cfg.bucket_first, cfg.bucket_ratio)
        for v in cfg.views
    }
    bloom = None
    if cfg.ngram:
        bloom = BloomFilter.empty(cfg.ngram, cfg.ngram_k, cfg.ngram_bits_log2)
        for r in raw:
            bloom.add(r)
    return AnomalyModel(
        service=service, config=cfg, views=views, max_length=int(fm.total.max()),
        nonprint_ref=float(np.quantile(fm.nonprint, 0.99)), threshold=threshold,
        n_samples=len(fm), bloom=bloom,
    )


def novelty_of(model: AnomalyModel, raw: Sequence[bytes]) -> FloatArray | None:
    if model.bloom is None:
        return None
    pairs = [model.bloom.novel_count(r) for r in raw]
    return np.array([a / b if b else 0.0 for a, b in pairs], dtype=np.float64)


def out_of_fold_scores(fm: FeatureMatrix, raw: Sequence[bytes], cfg: ModelConfig) -> FloatArray:
    """Each request's score under a model fitted without its fold."""
    n = len(fm)
    perm = np.random.default_rng(0).permutation(n)
    scores = np.empty(n, dtype=np.float64)
    for held in np.array_split(perm, min(cfg.folds, n)):
        train = np.setdiff1d(perm, held)
        model = fit_once(fm.subset(train), [raw[i] for i in train], cfg, "", 1.0)
        held_raw = [raw[i] for i in held]
        scores[held] = model.score_matrix(fm.subset(held), novelty_of(model, held_raw))
    return scores


def score_many(model: AnomalyModel, requests: Sequence[bytes]) -> FloatArray:
    """Scores of many requests under ``model``, vectorised (for reports and tests)."""
    shape = model.config.shape
    raw = [bytes(r[: shape.cap]) for r in requests]
    fm = feature_matrix([RequestFeatures.of(r, shape, len(full)) for r, full in zip(raw, requests, strict=True)])
    return model.score_matrix(fm, novelty_of(model, raw))
