"""Placing literals in the pieces of a large chunk: one scan of the chunk must give the
sets that one scan per piece region gives (brute force here), whatever the window, the
overlap and the tail."""
from __future__ import annotations

import random

import pytest

from honeyswitch.detect.signatures import hyperscan_available
from honeyswitch.detect.signatures.match import (
    Buffer,
    Chain,
    lead_absent,
    match_chain,
    window_bound,
)
from honeyswitch.detect.signatures.options import Content
from honeyswitch.detect.signatures.pieces import Layout, place_occurrences, scan_pieces
from honeyswitch.detect.signatures.prefilter import make_prefilter

ALPHABET = b"abAB"


def _found(lit: bytes, nocase: bool, region: bytes) -> bool:
    return lit.lower() in region.lower() if nocase else lit in region


def _case(rng: random.Random) -> tuple[list[tuple[bytes, bool]], Layout, bytes, bytes, bytes]:
    lits = [(bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))), rng.random() < 0.3)
            for _ in range(rng.randint(1, 5))]
    overlap = max(len(lit) for lit, _ in lits) - 1 + rng.choice([0, 0, 3, 50])
    window = rng.randint(1, 40)
    held = rng.randint(0, window)
    old = bytes(rng.choice(ALPHABET) for _ in range(held))
    data = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60)))
    layout = Layout(len(data), max(1, window // 2), window, overlap, held)
    return lits, layout, old, old[held - layout.tail :], data


def _expected(lits: list[tuple[bytes, bool]], layout: Layout, old: bytes, data: bytes) -> list[list[int]]:
    stream = old + data
    out = []
    for k in range(layout.count):
        region = stream[layout.held + layout.region_start(k) : layout.held + layout.stop(k)]
        out.append(sorted(i for i, (lit, nocase) in enumerate(lits) if _found(lit, nocase, region)))
    return out


def _occurrences(lits: list[tuple[bytes, bool]], tail: bytes, data: bytes) -> list[tuple[int, int]]:
    hay = tail + data
    occ = []
    for ident, (lit, nocase) in enumerate(lits):
        text, pat = (hay.lower(), lit.lower()) if nocase else (hay, lit)
        pos = text.find(pat)
        while pos >= 0:
            occ.append((ident, pos + len(lit) - len(tail)))
            pos = text.find(pat, pos + 1)
    random.Random(len(occ)).shuffle(occ)  # any order
    return occ + occ[:3]  # and repeats


def test_place_occurrences_matches_per_region_scans() -> None:
    rng = random.Random(1)
    for _ in range(3000):
        lits, layout, old, tail, data = _case(rng)
        got = place_occurrences(layout, _occurrences(lits, tail, data), [len(lit) for lit, _ in lits])
        assert [sorted(x) for x in got] == _expected(lits, layout, old, data)


def test_scan_pieces_matches_per_region_scans() -> None:
    rng = random.Random(2)
    for _ in range(3000):
        lits, layout, old, tail, data = _case(rng)

        def scan(region: bytes, lits: list[tuple[bytes, bool]] = lits) -> list[int]:
            return [i for i, (lit, nocase) in enumerate(lits) if _found(lit, nocase, region)]

        got = scan_pieces(layout, tail, data, scan)
        assert [sorted(x) for x in got] == _expected(lits, layout, old, data)


def test_layout_regions() -> None:
    lay = Layout(size=20_000, step=8192, window=16384, overlap=10, held=3)
    assert lay.count == 3 and lay.tail == 3
    assert [lay.region_start(k) for k in range(3)] == [-3, 8192 - 10, 16384 - 10]
    assert [lay.stop(k) for k in range(3)] == [8192, 16384, 20_000]


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")
def test_hyperscan_occurrences_reports_each_and_stops_past_the_limit() -> None:
    pf = make_prefilter([(b"ab", False), (b"XY", True)], "hyperscan")
    found: list[tuple[int, int]] = []
    assert pf.occurrences(b"ab xy ab XY", found, 10, limit=100)
    assert sorted(found) == [(0, 12), (0, 18), (1, 15), (1, 21)]
    found.clear()
    assert not pf.occurrences(b"ab" * 50, found, 0, limit=5)
    assert pf.scan(b"ab ab") == {0}  # the SINGLEMATCH database is untouched


def test_python_prefilter_defers_to_per_piece_scans() -> None:
    pf = make_prefilter([(b"ab", False)], "python")
    assert not pf.occurrences(b"ab", [], 0, limit=100)


# --------------------------------------------------------- window_bound / lead_absent
def _chain(*items: Content) -> Chain:
    return Chain.of("pkt", list(items))


@pytest.mark.parametrize("content", [
    Content(b"\x18\x03", depth=2),
    Content(b"ab", offset=3, depth=4),
    Content(b"ab", offset=2, depth=6, endswith=True),
    Content(b"ab", nocase=True, depth=5),
    Content(b"ab"),
    Content(b"ab", negated=True, depth=3),
])
def test_window_bound_and_lead_absent_agree_with_match_chain(content: Content) -> None:
    chain = _chain(content, Content(b"z", distance=0))
    bound = window_bound(chain)
    rng = random.Random(3)
    for _ in range(400):
        data = bytes(rng.choice(b"ab\x18\x03z") for _ in range(rng.randint(0, 12)))
        base = rng.randint(0, 12)
        if bound is not None and base >= bound:
            assert not match_chain(Buffer(data, base), chain)
        start = rng.randint(0, len(data))
        stop = rng.randint(start, len(data))
        if lead_absent(chain, data, start, stop):
            assert not match_chain(Buffer(data[start:stop]), chain)
    assert (bound is None) == (content.depth is None or content.negated)
