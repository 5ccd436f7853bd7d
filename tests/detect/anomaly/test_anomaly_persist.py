"""Model files: round trip, and hostile files rejected with a clear ValueError."""
from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest

from honeyswitch.detect.anomaly import ModelConfig, fit, load_model, save_model, score_many
from honeyswitch.detect.anomaly.npzsafe import read_npz


def _reqs(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [f"GET /item/{rng.randint(1, 999)}?q={rng.choice(['a', 'bb', 'ccc'])} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            for _ in range(n)]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m") / "web.npz"
    save_model(fit(_reqs(120, 1), ModelConfig(), "web"), path)
    return path


def _write(path: Path, arrays: dict[str, np.ndarray], pickle: bool = False) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, allow_pickle=pickle, **arrays)
    return path


def _three_buckets(arrays: dict[str, np.ndarray], edges: list[int]) -> None:
    """Give the full view three buckets (copies of its first) with the given edges."""
    arrays["full.edges"] = np.array(edges, dtype=np.int64)
    for key in ("full.mean", "full.std", "full.count", "full.scale"):
        arrays[key] = np.repeat(arrays[key][:1], 3, axis=0)


def _meta(arrays: dict[str, np.ndarray]) -> dict:
    return json.loads(arrays["meta"].tobytes())


def _with_meta(arrays: dict[str, np.ndarray], meta: dict) -> dict[str, np.ndarray]:
    return {**arrays, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}


@pytest.mark.parametrize("ngram", [0, 3])
def test_round_trip(tmp_path: Path, ngram: int) -> None:
    cfg = ModelConfig(ngram=ngram, ngram_bits_log2=14, parts=("payl", "rare", "length", "nonprint"))
    model = fit(_reqs(100, 2), cfg, "web")
    save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.config == model.config and loaded.service == "web"
    assert loaded.threshold == model.threshold and loaded.units == model.units
    probe = _reqs(30, 3) + [b"GET /../../etc/passwd HTTP/1.1\r\n\r\n"]
    assert np.array_equal(score_many(model, probe), score_many(loaded, probe))
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"\x80\x04 definitely a pickle")
    with pytest.raises(ValueError, match="not a valid zip"):
        load_model(tmp_path / "x.npz")


def test_pickled_object_array_rejected(tmp_path: Path, model_file: Path) -> None:
    arrays = read_npz(model_file)
    arrays["full.mean"] = np.array([{"evil": 1}], dtype=object)
    with pytest.raises(ValueError, match="not allowed"):
        load_model(_write(tmp_path / "p.npz", arrays, pickle=True))


def test_huge_declared_shape_rejected_without_allocating(tmp_path: Path) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 256)})
    buf.write(b"\x00" * 64)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("full.mean.npy", buf.getvalue())
    with pytest.raises(ValueError, match="does not match"):
        load_model(path)


def test_oversized_member_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.npy", b"\x00" * (40 << 20))  # compresses to ~40 KB
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match="too large"):
        load_model(path)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda a: a.update({"full.mean": np.full_like(a["full.mean"], np.nan)}), "NaN"),
        (lambda a: a.update({"full.std": a["full.std"][:, :100].copy()}), "expected"),
        (lambda a: a.update({"head.edges": a["head.edges"] + 1}), "start at 0"),
        (lambda a: _three_buckets(a, [0, 50, 50]), "increase"),
        (lambda a: a.update({"full.count": np.zeros_like(a["full.count"])}), "counts"),
        (lambda a: a.update({"tail.scale": -a["tail.scale"]}), "scales"),
        (lambda a: a.update({"full.mean": a["full.mean"] + 2.0}), r"\[0, 1\]"),
        (lambda a: a.update({"full.rare": np.zeros(255, dtype=bool)}), "expected"),
        (lambda a: a.update({"full.edges": np.arange(5000, dtype=np.int64)}), "bucket count"),
        (lambda a: a.update({"extra": np.zeros(3)}), "unexpected"),
        (lambda a: a.pop("tail.std"), "missing"),
        (lambda a: a.update({"meta": np.frombuffer(b"{not json", np.uint8)}), "not JSON"),
        (lambda a: a.update({"full.mean": a["full.mean"].astype(np.float32)}), "not allowed"),
        (lambda a: a.update({"full.count": a["full.count"].astype(np.float64)}), "expected"),
    ],
)
def test_bad_arrays_rejected(tmp_path: Path, model_file: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    arrays = read_npz(model_file)
    mutate(arrays)
    with pytest.raises(ValueError, match=message):
        load_model(_write(tmp_path / "bad.npz", arrays))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": 99}, "unsupported model version"),
        ({"format": "something-else"}, "not a honeyswitch"),
        ({"threshold": -1}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"units": {"payl": 1.0}}, "units"),
        ({"service": ["x"]}, "service"),
        ({"views": ["full"]}, "views"),
        ({"ngram": {"n": 3, "k": 3, "bits_log2": 10}}, "ngram"),
        ({"max_length": "big"}, "max_length"),
    ],
)
def test_bad_meta_rejected(tmp_path: Path, model_file: Path, change: dict, message: str) -> None:
    arrays = read_npz(model_file)
    meta = _meta(arrays) | change
    with pytest.raises(ValueError, match=message):
        load_model(_write(tmp_path / "bad.npz", _with_meta(arrays, meta)))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"alpha": 0}, "alpha"),
        ({"alpha": "0.001"}, "alpha"),
        ({"shape": {"cap": 10**12, "head_len": 1, "tail_len": 1, "percent_decode": False}}, "shape"),
        ({"shape": {"cap": 10}}, "shape"),
        ({"views": "full"}, "views"),
        ({"unknown": 1}, "keys"),
        ({"ngram": 99}, "ngram"),
        ({"folds": True}, "folds"),
    ],
)
def test_bad_config_rejected(tmp_path: Path, model_file: Path, change: dict, message: str) -> None:
    arrays = read_npz(model_file)
    meta = _meta(arrays)
    meta["config"] = meta["config"] | change
    with pytest.raises(ValueError, match=message):
        load_model(_write(tmp_path / "bad.npz", _with_meta(arrays, meta)))


def test_truncated_archive_rejected(tmp_path: Path, model_file: Path) -> None:
    data = model_file.read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        load_model(tmp_path / "t.npz")
