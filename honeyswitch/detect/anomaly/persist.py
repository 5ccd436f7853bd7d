"""Save and load anomaly models as versioned ``.npz`` files, never pickle.

Layout (``FORMAT_VERSION`` 1), every member a plain numeric array:

* ``meta``: UTF-8 JSON as uint8: ``{"format": "honeyswitch-anomaly", "version": 1,
  "service", "config", "max_length", "nonprint_ref", "units", "threshold", "n_samples",
  "views", "ngram"}``;
* per view V in ``views``: ``V.edges`` int64 (B,), ``V.mean`` and ``V.std`` float64
  (B, 256), ``V.count`` int64 (B,), ``V.scale`` float64 (B,), ``V.rare`` bool (256,);
* ``bloom`` uint8 (2**bits_log2 / 8,) when the n-gram part is on.

Model files may come from anywhere, so :func:`load_model` reads them with
:mod:`.npzsafe` and checks every shape, range and key; anything off is a ``ValueError``.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .buckets import MAX_BUCKETS
from .features import Shape
from .fit import check_config
from .model import FLOORS, FORMAT_VERSION, AnomalyModel, ModelConfig, part_names
from .ngram import BloomFilter
from .npzsafe import read_npz
from .payl import ViewModel

FORMAT_NAME = "honeyswitch-anomaly"
MAX_META_BYTES = 64 << 10


def save_model(model: AnomalyModel, path: str | Path) -> None:
    """Write ``model`` to ``path`` (atomically: a temporary file, then rename)."""
    arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(_meta(model)).encode(), np.uint8)}
    for name, vm in model.views.items():
        arrays.update({f"{name}.edges": vm.edges, f"{name}.mean": vm.mean, f"{name}.std": vm.std,
                       f"{name}.count": vm.count, f"{name}.scale": vm.scale, f"{name}.rare": model.rare[name]})
    if model.bloom is not None:
        arrays["bloom"] = model.bloom.bits
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, allow_pickle=False, **arrays)
    os.replace(tmp, path)


def _meta(model: AnomalyModel) -> dict[str, Any]:
    bloom = model.bloom
    return {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "service": model.service,
        "config": dataclasses.asdict(model.config), "max_length": model.max_length,
        "nonprint_ref": model.nonprint_ref, "units": model.units, "threshold": model.threshold,
        "n_samples": model.n_samples, "views": list(model.views),
        "ngram": None if bloom is None else {"n": bloom.n, "k": bloom.k, "bits_log2": bloom.bits_log2},
    }


def load_model(path: str | Path) -> AnomalyModel:
    """Read and validate a model file; ValueError (with the reason) if it is not one."""
    arrays = read_npz(path)
    try:
        return _build(arrays)
    except ValueError as exc:
        raise ValueError(f"{path}: invalid model: {exc}") from None


def _build(arrays: dict[str, np.ndarray]) -> AnomalyModel:
    meta = _read_meta(arrays)
    cfg = config_from_json(meta["config"])
    views = meta["views"]
    if not isinstance(views, list) or tuple(views) != cfg.views:
        raise ValueError("views do not match the config")
    expected = {"meta"} | {f"{v}.{k}" for v in views for k in ("edges", "mean", "std", "count", "scale", "rare")}
    expected |= {"bloom"} if cfg.ngram else set()
    if set(arrays) != expected:
        raise ValueError(f"members {sorted(set(arrays) ^ expected)} missing or unexpected")
    vms = {v: _view(arrays, v, cfg.alpha) for v in views}
    rare = {v: _array(arrays, f"{v}.rare", np.bool_, (256,)) for v in views}
    return AnomalyModel(
        service=meta["service"], config=cfg, views=vms, rare=rare,
        max_length=_int(meta, "max_length", 0), nonprint_ref=_float(meta, "nonprint_ref", 0.0, 1.0),
        units=_units(meta["units"], cfg), threshold=_float(meta, "threshold", 1e-12),
        n_samples=_int(meta, "n_samples", 1), bloom=_bloom(arrays, meta["ngram"], cfg),
    )


def _read_meta(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.get("meta")
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_META_BYTES:
        raise ValueError("missing or oversized meta")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"meta is not JSON: {exc}") from None
    keys = {"format", "version", "service", "config", "max_length", "nonprint_ref", "units",
            "threshold", "n_samples", "views", "ngram"}
    if not isinstance(meta, dict) or set(meta) != keys:
        raise ValueError("meta keys are wrong")
    if meta["format"] != FORMAT_NAME:
        raise ValueError("not a honeyswitch anomaly model")
    if meta["version"] != FORMAT_VERSION:
        raise ValueError(f"unsupported model version {meta['version']!r} (this build reads {FORMAT_VERSION})")
    if not isinstance(meta["service"], str) or len(meta["service"]) > 200:
        raise ValueError("service must be a short string")
    return meta


def _int(meta: dict[str, Any], key: str, lo: int) -> int:
    val = meta[key]
    if isinstance(val, bool) or not isinstance(val, int) or not lo <= val <= 1 << 62:
        raise ValueError(f"{key} must be an integer >= {lo}")
    return val


def _float(meta: dict[str, Any], key: str, lo: float, hi: float = 1e12) -> float:
    val = meta[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not np.isfinite(val) or not lo <= val <= hi:
        raise ValueError(f"{key} must be a finite number in [{lo}, {hi}]")
    return float(val)


def _units(units: Any, cfg: ModelConfig) -> dict[str, float]:
    if not isinstance(units, dict):
        raise ValueError("units must be an object")
    if set(units) != set(part_names(cfg)):
        raise ValueError(f"units must be exactly {part_names(cfg)}")
    return {k: _float(units, k, FLOORS[k.split("_")[0]]) for k in units}


def _array(arrays: dict[str, np.ndarray], key: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    arr = arrays[key]
    if arr.dtype != np.dtype(dtype) or arr.shape != shape:
        raise ValueError(f"{key}: expected {np.dtype(dtype)} {shape}, got {arr.dtype} {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{key}: contains NaN or infinity")
    return arr


def _view(arrays: dict[str, np.ndarray], v: str, alpha: float) -> ViewModel:
    edges = arrays[f"{v}.edges"]
    nb = edges.shape[0] if edges.ndim == 1 else -1
    if not 1 <= nb <= MAX_BUCKETS:
        raise ValueError(f"{v}.edges: bucket count must be 1..{MAX_BUCKETS}")
    edges = _array(arrays, f"{v}.edges", np.int64, (nb,))
    if edges[0] != 0 or (nb > 1 and not (np.diff(edges) > 0).all()):
        raise ValueError(f"{v}.edges must start at 0 and increase")
    mean = _array(arrays, f"{v}.mean", np.float64, (nb, 256))
    std = _array(arrays, f"{v}.std", np.float64, (nb, 256))
    count = _array(arrays, f"{v}.count", np.int64, (nb,))
    scale = _array(arrays, f"{v}.scale", np.float64, (nb,))
    if mean.min() < 0 or mean.max() > 1 or std.min() < 0 or std.max() > 1:
        raise ValueError(f"{v}: mean and std must lie in [0, 1]")
    if count.min() < 1 or scale.min() <= 0:
        raise ValueError(f"{v}: counts must be >= 1 and scales > 0")
    return ViewModel.build(edges, mean, std, count, scale, alpha)


def _bloom(arrays: dict[str, np.ndarray], spec: Any, cfg: ModelConfig) -> BloomFilter | None:
    if not cfg.ngram:
        if spec is not None:
            raise ValueError("ngram spec present but the n-gram part is off")
        return None
    if not isinstance(spec, dict) or spec != {"n": cfg.ngram, "k": cfg.ngram_k, "bits_log2": cfg.ngram_bits_log2}:
        raise ValueError("ngram spec does not match the config")
    bits = _array(arrays, "bloom", np.uint8, (1 << (cfg.ngram_bits_log2 - 3),))
    return BloomFilter(cfg.ngram, cfg.ngram_k, cfg.ngram_bits_log2, bits)


def config_from_json(obj: Any) -> ModelConfig:
    """A ModelConfig from its JSON form, with exact keys and types."""
    if not isinstance(obj, dict):
        raise ValueError("config must be an object")
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    if set(obj) != set(fields):
        raise ValueError(f"config keys differ: {sorted(set(obj) ^ set(fields))}")
    kwargs: dict[str, Any] = {}
    defaults = ModelConfig()
    for name in fields:
        kwargs[name] = _typed(name, obj[name], getattr(defaults, name))
    cfg = ModelConfig(**kwargs)
    check_config(cfg)
    return cfg


def _typed(name: str, val: Any, default: Any) -> Any:
    if isinstance(default, Shape):
        if not isinstance(val, dict) or set(val) != {f.name for f in dataclasses.fields(Shape)}:
            raise ValueError("config.shape keys are wrong")
        shape = {k: _typed(f"shape.{k}", v, getattr(default, k)) for k, v in val.items()}
        if max(shape["cap"], shape["head_len"], shape["tail_len"]) > 1 << 24:
            raise ValueError("config.shape sizes too large")
        return Shape(**shape)
    if isinstance(default, tuple):
        if not isinstance(val, list) or not all(isinstance(x, str) for x in val) or len(val) > 8:
            raise ValueError(f"config.{name} must be a short list of strings")
        return tuple(val)
    if isinstance(default, bool):
        if not isinstance(val, bool):
            raise ValueError(f"config.{name} must be true or false")
        return val
    if isinstance(default, int):
        if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= 1 << 24:
            raise ValueError(f"config.{name} must be an integer in 0..2**24")
        return val
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not np.isfinite(val) or abs(val) > 1e9:
        raise ValueError(f"config.{name} must be a finite number")
    return float(val)
