"""DivergenceFinder: the first differing position of two streams, any interleaving."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.core.divergence import HONEYPOT_SIDE, MAIN_SIDE, DivergenceFinder


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


@given(
    st.binary(min_size=1, max_size=3000),
    st.integers(0, 10**6), st.binary(min_size=1, max_size=50),
    st.lists(st.integers(0, 10**6), max_size=12), st.lists(st.integers(0, 10**6), max_size=12),
    st.lists(st.booleans(), max_size=60),
)
def test_first_difference_found_whatever_the_chunking(common, at, tail, cuts_a, cuts_b, order):
    at = at % (len(common) + 1)
    main = common
    honeypot = common[:at] + bytes([common[at] ^ 0xFF]) + common[at + 1 :] if at < len(common) else common + tail
    finder = DivergenceFinder(limit=1 << 20)
    a, b = chunks(main, cuts_a), chunks(honeypot, cuts_b)
    found = None
    steps = list(order) + [True] * len(a) + [False] * len(b)
    for take_main in steps:
        queue, side = (a, MAIN_SIDE) if take_main else (b, HONEYPOT_SIDE)
        if queue:
            result = finder.feed(side, queue.pop(0))
            found = found or result
    if at < len(common):
        assert found is not None and found[0] == at
        assert found[1].startswith(main[at : at + 1]) and found[2].startswith(honeypot[at : at + 1])
    else:
        assert found is None  # a longer honeypot is not a difference yet


def test_identical_streams_never_diverge_and_memory_is_released():
    finder = DivergenceFinder(limit=1 << 20)
    for i in range(100):
        assert finder.feed(MAIN_SIDE, b"x" * 1000 + bytes([i])) is None
        assert finder.feed(HONEYPOT_SIDE, b"x" * 1000 + bytes([i])) is None
    assert finder._lead_len == 0 and finder.active


def test_a_side_too_far_ahead_stops_comparing_without_a_verdict():
    finder = DivergenceFinder(limit=100)
    assert finder.feed(MAIN_SIDE, b"a" * 101) is None
    assert not finder.active and finder.position is None
    assert finder.feed(HONEYPOT_SIDE, b"b" * 101) is None
