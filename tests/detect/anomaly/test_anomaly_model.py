"""PAYL maths on hand-computed examples, bucket merging, features, n-grams, fitting."""
from __future__ import annotations

import dataclasses
import random
from urllib.parse import unquote_to_bytes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyswitch.detect.anomaly import ModelConfig, Shape, fit, score_many
from honeyswitch.detect.anomaly.buckets import bucket_of, initial_edges, merge_edges
from honeyswitch.detect.anomaly.features import (
    RequestFeatures,
    byte_counts,
    feature_matrix,
    frequencies,
    percent_decode,
)
from honeyswitch.detect.anomaly.ngram import BloomFilter, NgramCounter, ngram_hashes
from honeyswitch.detect.anomaly.payl import fit_view


def _freqs(*reqs: bytes) -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([byte_counts(r) for r in reqs])
    lengths = np.array([len(r) for r in reqs], dtype=np.int64)
    return frequencies(counts, lengths), lengths


def test_payl_distance_hand_computed() -> None:
    # "ab" -> a=.5 b=.5 ; "aa" -> a=1.  mean a=.75 b=.25, std a=.25 b=.25 (population).
    freqs, lengths = _freqs(b"ab", b"aa")
    vm = fit_view(freqs, lengths, alpha=0.001, min_samples=1)
    assert vm.edges.tolist() == [0]
    assert vm.mean[0, ord("a")] == pytest.approx(0.75) and vm.mean[0, ord("b")] == pytest.approx(0.25)
    assert vm.std[0, ord("a")] == pytest.approx(0.25) and vm.std[0, ord("b")] == pytest.approx(0.25)
    # d("bb") = |0-.75|/(.25+.001) + |1-.25|/(.25+.001) = 1.5/.251
    x, _ = _freqs(b"bb")
    d, b = vm.distance(x[0], 2)
    assert b == 0 and d == pytest.approx(1.5 / 0.251)
    # a never-seen byte costs x/alpha: "ac" -> .25/.251 + .25/.251 + .5/.001
    x, _ = _freqs(b"ac")
    assert vm.distance(x[0], 2)[0] == pytest.approx(0.5 / 0.251 + 500.0)
    # scale = mean training distance: both training rows are 0.5/.251 away
    assert vm.scale[0] == pytest.approx(0.5 / 0.251)
    assert vm.zscore(_freqs(b"bb")[0][0], 2) == pytest.approx(3.0)


def test_alpha_smooths_constant_bytes() -> None:
    freqs, lengths = _freqs(b"aaaa", b"aaaa")
    for alpha, expect in ((0.001, 0.5 / 0.001 * 2), (0.1, 0.5 / 0.1 * 2)):
        vm = fit_view(freqs, lengths, alpha=alpha, min_samples=1)
        assert vm.distance(_freqs(b"aabb")[0][0], 4)[0] == pytest.approx(expect)
        assert vm.scale[0] == 1.0  # identical training rows: distance 0, floored scale


def test_vectorised_distances_match_single() -> None:
    rng = random.Random(1)
    reqs = [bytes(rng.choice(b"abcdef ") for _ in range(rng.randint(1, 80))) for _ in range(60)]
    freqs, lengths = _freqs(*reqs)
    vm = fit_view(freqs, lengths, 0.001, min_samples=10)
    d, b = vm.distances(freqs, lengths)
    for i in range(len(reqs)):
        assert (d[i], b[i]) == pytest.approx(vm.distance(freqs[i], int(lengths[i])))


def test_initial_edges_are_geometric() -> None:
    assert initial_edges(100).tolist() == [0, 16, 20, 25, 31, 39, 49, 61, 76, 95, 119]
    assert initial_edges(0, first=4, ratio=2.0).tolist() == [0, 4]
    with pytest.raises(ValueError):
        initial_edges(10, ratio=1.0)


def test_merge_neighbours_until_enough_samples() -> None:
    lengths = np.array([10] * 5 + [22] * 5 + [100], dtype=np.int64)
    # bin [0,16) has 5 -> bucket; [16,20) empty joins [20,25) -> 5 -> bucket; the lone
    # 100-byte sample is a leftover tail (< 5) and joins the bucket before it.
    assert merge_edges(lengths, min_samples=5).tolist() == [0, 16]
    assert merge_edges(lengths, min_samples=6).tolist() == [0]  # 10 then 1 leftover
    assert merge_edges(lengths, min_samples=100).tolist() == [0]  # too few: one bucket
    assert bucket_of(np.array([0, 16], dtype=np.int64), [0, 15, 16, 10**9]).tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError):
        merge_edges(np.array([], dtype=np.int64), 5)


@given(st.lists(st.integers(0, 5000), min_size=1, max_size=300), st.integers(1, 40))
def test_every_bucket_has_min_samples(lengths: list[int], min_samples: int) -> None:
    arr = np.array(lengths, dtype=np.int64)
    edges = merge_edges(arr, min_samples)
    assert edges[0] == 0 and (np.diff(edges) > 0).all()
    counts = np.bincount(bucket_of(edges, arr), minlength=len(edges))
    if len(arr) >= min_samples:
        assert counts.min() >= min_samples
    else:
        assert len(edges) == 1


def test_fit_view_buckets_by_length() -> None:
    short = [b"GET /a" for _ in range(30)]
    long_ = [b"X" * 200 for _ in range(30)]
    freqs, lengths = _freqs(*(short + long_))
    vm = fit_view(freqs, lengths, 0.001, min_samples=30)
    assert len(vm.edges) == 2 and vm.count.tolist() == [30, 30]
    assert vm.distance(_freqs(b"X" * 6)[0][0], 6)[0] > 1000  # wrong mix for its length
    assert vm.distance(_freqs(b"X" * 200)[0][0], 200)[0] == pytest.approx(0.0)


@given(st.binary(max_size=40))
def test_percent_decode_matches_urllib(data: bytes) -> None:
    assert percent_decode(data) == unquote_to_bytes(data.replace(b"+", b" "))


@settings(max_examples=60)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 400), max_size=20))
def test_incremental_features_equal_whole(data: bytes, cuts: list[int]) -> None:
    shape = Shape(cap=1000, head_len=50, tail_len=30, percent_decode=True)
    whole = RequestFeatures.of(data, shape)
    inc = RequestFeatures(shape)
    pos = 0
    for c in cuts:
        inc.update(data[pos:pos + c])
        pos += c
    inc.update(data[pos:])
    assert inc.length == whole.length == len(data) and inc.captured == min(len(data), 1000)
    for view in ("full", "head", "tail"):
        assert np.array_equal(inc.view(view)[0], whole.view(view)[0])
        assert np.array_equal(inc.rare_view(view), whole.rare_view(view))
    head = data[:1000].split(b"\n", 1)[0][:50]
    assert whole.view("head")[1] == len(head)
    assert np.array_equal(whole.view("tail")[0], byte_counts(data[:1000][-30:]))


def test_nonprint_fraction() -> None:
    f = RequestFeatures.of(b"ab\r\n\t\x00\xff\x7f", Shape())
    assert f.nonprint_fraction() == pytest.approx(3 / 8)


def test_bloom_has_no_false_negatives_and_counts_novelty() -> None:
    bloom = BloomFilter.empty(n=3, k=3, bits_log2=16)
    bloom.add(b"GET /index.html")
    assert bloom.novel_count(b"GET /index.html") == (0, 13)
    novel, total = bloom.novel_count(b"GET /etc/passwd")
    assert total == 13 and novel >= 8
    assert bloom.novel_count(b"ab") == (0, 0)
    assert 0 < bloom.fill_ratio() < 0.01
    with pytest.raises(ValueError):
        BloomFilter.empty(n=1)
    with pytest.raises(ValueError):
        BloomFilter.empty(bits_log2=40)


@given(st.binary(max_size=200), st.integers(1, 50))
def test_ngram_counter_incremental_equals_whole(data: bytes, step: int) -> None:
    bloom = BloomFilter.empty(n=4, k=2, bits_log2=12)
    bloom.add(b"hello world, hello there")
    counter = NgramCounter(bloom)
    for i in range(0, len(data), step):
        counter.update(data[i:i + step])
    assert (counter.novel, counter.total) == bloom.novel_count(data)
    assert len(ngram_hashes(data, 4)) == max(0, len(data) - 3)


def _lines(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    words = [b"get", b"set", b"user", b"cart", b"item", b"page"]
    return [b" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) + b"\r\n" for _ in range(n)]


def test_fit_calibrates_threshold_and_flags_outliers() -> None:
    reqs = _lines(400, 1)
    model = fit(reqs, ModelConfig(), "line")
    held = score_many(model, _lines(400, 2))
    assert (held > model.threshold).mean() <= 0.05
    weird = model.score(b"set user ' OR 1=1; DROP TABLE users; --\r\n")
    assert weird.anomalous and weird.ratio > 1
    assert model.score(b"get user cart\r\n").total < model.threshold
    assert model.score(b"get " * 5000).parts["length"] > 1  # far longer than any seen


def test_score_one_equals_score_matrix() -> None:
    reqs = _lines(200, 3)
    model = fit(reqs, ModelConfig(ngram=3, ngram_bits_log2=14, parts=("payl", "rare", "length", "nonprint")))
    probe = _lines(20, 4) + [b"\x00\x01 weird", b"", b"x" * 9000]
    batch = score_many(model, probe)
    single = [model.score(p).total for p in probe]
    assert np.allclose(batch, single)


def test_fit_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least"):
        fit([b"a"] * 3)
    for bad in (dict(alpha=0.0), dict(folds=1), dict(views=("body",)), dict(parts=("magic",)),
                dict(quantile=1.5), dict(ngram=1), dict(ngram=3, ngram_bits_log2=99)):
        with pytest.raises(ValueError):
            fit(_lines(50, 5), dataclasses.replace(ModelConfig(), **bad))  # type: ignore[arg-type]


def test_feature_matrix_shapes() -> None:
    fm = feature_matrix([RequestFeatures.of(r, Shape()) for r in (b"a\nb", b"", b"xyz")])
    assert fm.freqs["full"].shape == (3, 256) and fm.lengths["head"].tolist() == [1, 0, 3]
    assert fm.freqs["full"][1].sum() == 0  # empty request: zeros, not NaN
