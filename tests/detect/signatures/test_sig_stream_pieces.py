"""Large chunks, one prefilter scan: the same alerts, in the same order, as scanning and
verifying every piece of half a window in turn (``sig_piecewise_oracle``), for contents
split across pieces and chunks, anchored rules (stream start and each piece), relative
contents, pcre, flowbits, thresholds, packet rules, pass rules and rules that do not
apply to the service; with hyperscan's one-scan path, its per-piece fallback (too many
occurrences) and the Python prefilter."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from sig_piecewise_oracle import PiecewiseInspector

from honeyswitch.detect.base import Alert, FlowInfo
from honeyswitch.detect.signatures import (
    Limits,
    SignatureDetector,
    hyperscan_available,
    load_ruleset,
    parse_rules,
)
from honeyswitch.detect.signatures import engine as engine_mod
from honeyswitch.detect.signatures.options import Content
from honeyswitch.detect.signatures.stream import SignatureInspector

RULES = "\n".join([
    'alert tcp any any -> any any (msg:"split"; content:"attack-pattern"; sid:1;)',
    'alert tcp any any -> any any (msg:"rel"; content:"ATTACK"; nocase; content:"tail"; distance:0; within:24; sid:2;)',
    'alert tcp any any -> any any (msg:"anchored"; flow:to_server; content:"|18 03|"; depth:2; sid:3;)',
    'alert tcp any any -> any any (msg:"off"; content:"HEAD"; offset:4; depth:10; sid:4;)',
    'alert tcp any any -> any any (msg:"pcre"; content:"evil"; pcre:"/evil\\d+x/"; sid:5;)',
    'alert tcp any any -> any any (msg:"set"; content:"login"; flowbits:set,seen; flowbits:noalert; sid:6;)',
    'alert tcp any any -> any any (msg:"isset"; content:"root"; flowbits:isset,seen; sid:7;)',
    'alert tcp any any -> any any (msg:"thr"; content:"abab"; threshold:type limit,track by_src,count 3,seconds 60; sid:8;)',
    'alert tcp any any -> any any (msg:"dsize"; content:"xyz"; dsize:<300; sid:9;)',
    'alert tcp-pkt any any -> any any (msg:"pkt"; content:"pkt!"; sid:10;)',
    'alert tcp any any -> any 9999 (msg:"here"; content:"port-only"; sid:11;)',
    'alert tcp any any -> any 80 (msg:"elsewhere"; content:"port-only"; sid:12;)',
    'alert tcp any any -> any any (msg:"often"; content:"a"; isdataat:6,relative; content:"q"; distance:5; within:1; sid:13;)',
    'pass tcp any any -> any any (msg:"pass"; content:"whitelisted"; sid:14;)',
    'alert tcp any any -> any any (msg:"bytes"; content:"flag"; byte_test:1,>,0x60,0,relative; sid:15;)',
    'alert tcp any any -> any any (msg:"nolit"; flowbits:isset,seen; pcre:"/^GO/"; sid:16;)',
    'alert http any any -> any any (msg:"http"; content:"GET"; http_method; sid:17;)',
    'alert tcp any any -> any any (msg:"server"; flow:to_client; content:"banner-x"; sid:18;)',
])
FRAGMENTS = [b"attack-pattern", b"ATTACK", b"attack", b"tail", b"\x18\x03", b"HEAD", b"evil12x",
             b"evil", b"login", b"root", b"abab", b"xyz", b"pkt!", b"port-only", b"aaaaaaq",
             b"whitelisted", b"flagz", b"flag!", b"GO", b"banner-x", b"\r\n", b"GET / HTTP/1.1"]
ENGINES = ["python"] + (["hyperscan"] if hyperscan_available() else [])


def _detector(window: int, engine: str) -> SignatureDetector:
    ruleset = parse_rules(RULES)
    assert not ruleset.skipped, [(s.reason, s.detail) for s in ruleset.skipped]
    return SignatureDetector(ruleset, prefilter=engine, clock=lambda: 1000.0,
                             limits=Limits(stream_window=window))


def _payload(rng: random.Random, size: int) -> bytes:
    parts, n = [], 0
    while n < size:
        roll = rng.random()
        part = (rng.choice(FRAGMENTS) if roll < 0.35
                else bytes(rng.choice(b"abcdefqxyz ") for _ in range(rng.randint(1, 40))))
        parts.append(part)
        n += len(part)
    data = b"".join(parts)
    cut = rng.randint(0, min(20, len(data) - 1))  # fragments cut at random places too
    return data[cut : cut + size]


def _sids(alerts: list[Alert] | tuple[Alert, ...]) -> list[int]:
    return [a.details["sid"] for a in alerts]


def _compare(window: int, engine: str, seed: int, sessions: int = 12, feeds: int = 25) -> int:
    new, old = _detector(window, engine), _detector(window, engine)
    rng = random.Random(seed)
    total = 0
    for s in range(sessions):
        flow = FlowInfo("svc", f"s{s}", "192.0.2.7", 40000 + s, "198.51.100.1",
                        rng.choice([9999, 80, 45678]))
        a, b = new.new_stream(flow), PiecewiseInspector(old, flow)
        assert type(a) is SignatureInspector
        for f in range(feeds):
            size = rng.choice([1, 7, 60, window // 2, window // 2 + 1, window, 3 * window + 5,
                               rng.randint(1, 4 * window)])
            data, to_server = _payload(rng, size), rng.random() < 0.75
            got, want = _sids(a.feed(data, to_server)), _sids(b.feed(data, to_server))
            assert got == want, (seed, s, f, size, to_server)
            wa, wb = a.windows[to_server], b.windows[to_server]
            assert (wa.buf, wa.base) == (wb.buf, wb.base)
            assert a.bits == b.bits
            total += len(got)
    return total


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("window", [16, 64, 300, 4096])
def test_large_chunks_alert_as_piece_by_piece(engine: str, window: int) -> None:
    assert _compare(window, engine, seed=window) > 0


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")
@pytest.mark.parametrize("base,per_piece", [(0, 0), (1, 1), (10_000, 0)])
def test_occurrence_budget_does_not_change_alerts(monkeypatch: pytest.MonkeyPatch,
                                                   base: int, per_piece: int) -> None:
    # 0/0: every multi-piece chunk falls back to one scan per piece; 10000: never does
    monkeypatch.setattr(engine_mod, "OCCURRENCES_BASE", base)
    monkeypatch.setattr(engine_mod, "OCCURRENCES_PER_PIECE", per_piece)
    for window in (64, 1024):
        assert _compare(window, "hyperscan", seed=base + window) > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_literal_split_between_pieces_of_one_chunk(engine: str) -> None:
    det = _detector(64, engine)
    for cut in range(32 - 13, 32 + 1):  # "attack-pattern" across the piece boundary at 32
        ins = det.new_stream(FlowInfo("svc", "s", "192.0.2.7", 40000, "198.51.100.1", 9999))
        data = b"-" * cut + b"attack-pattern" + b"-" * 100
        assert _sids(ins.feed(data, True)) == [1], cut


@pytest.mark.parametrize("engine", ENGINES)
def test_many_occurrences_in_one_chunk(engine: str) -> None:
    det = _detector(1024, engine)
    ins = det.new_stream(FlowInfo("svc", "s", "192.0.2.7", 40000, "198.51.100.1", 9999))
    data = b"a" * 20_000 + b"aaaaaaq" + b"a" * 20_000
    assert _sids(ins.feed(data, True)) == [13]


@pytest.mark.parametrize("engine", ENGINES)
def test_anchored_rule_at_a_piece_start_of_a_large_chunk(engine: str) -> None:
    # the per-piece (packet) view of an anchored rule: a piece that starts with it
    det = _detector(64, engine)
    ins = det.new_stream(FlowInfo("svc", "s", "192.0.2.7", 40000, "198.51.100.1", 9999))
    ins.feed(b"x" * 100, True)
    assert _sids(ins.feed(b"y" * 32 + b"\x18\x03" + b"z" * 60, True)) == [3]
    assert _sids(ins.feed(b"y" * 33 + b"\x18\x03" + b"z" * 60, True)) == []


def test_rules_for_other_ports_are_not_in_the_service_prefilter() -> None:
    det = _detector(4096, "auto")
    here = det.stream_group("tcp", (9999,), True)
    there = det.stream_group("tcp", (80, 80), True)
    assert b"port-only" in {det.engine.rules[r].literal.data  # type: ignore[union-attr]
                           for rules in here.rules_of for r in rules}
    assert here is not there
    assert here is det.stream_group("tcp", (9999,), True)  # cached
    # a direction keeps the full group's overlap, so pieces see the same bytes
    assert here.overlap == det.engine.stream[True].overlap


ET_DIR = Path("/work/shared/data/et-open")


@pytest.mark.skipif(not ET_DIR.is_dir(), reason="ET Open slice not available")
def test_et_slice_large_chunks_alert_as_piece_by_piece() -> None:
    ruleset = load_ruleset(sorted(ET_DIR.glob("*.rules")))
    frags = [item.pattern for rule in ruleset.rules for chain in rule.chains
             for item in chain.items if isinstance(item, Content)]
    rng = random.Random(11)
    for window in (1024, 16384):
        limits = Limits(stream_window=window)
        new, old = (SignatureDetector(ruleset, clock=lambda: 0.0, limits=limits)
                    for _ in range(2))
        for s in range(10):
            flow = FlowInfo("svc", f"s{s}", "203.0.113.5", 40000 + s, "192.0.2.1",
                            rng.choice([80, 21, 445, 45678, 1433]))
            a, b = new.new_stream(flow), PiecewiseInspector(old, flow)
            for f in range(12):
                parts: list[bytes] = []
                size = rng.choice([100, 1460, window, 3 * window])
                while sum(map(len, parts)) < size:
                    parts.append(rng.choice(frags) if rng.random() < 0.3 else rng.randbytes(rng.randint(1, 300)))
                data, to_server = b"".join(parts)[:size], rng.random() < 0.7
                assert _sids(a.feed(data, to_server)) == _sids(b.feed(data, to_server)), (window, s, f)


def test_subgroups_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "MAX_SUBGROUPS", 1)
    det = _detector(4096, "auto")
    first = det.stream_group("tcp", (9999,), True)
    assert first is not det.engine.stream[True]
    assert det.stream_group("tcp", (80, 80), True) is det.engine.stream[True]
    ins = det.new_stream(FlowInfo("svc", "s", "192.0.2.7", 40000, "198.51.100.1", 80))
    assert _sids(ins.feed(b"x" * 5000 + b"port-only", True)) == [12]
