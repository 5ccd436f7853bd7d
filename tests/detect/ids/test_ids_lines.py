"""LineSplitter: partial lines wait, over-long lines are dropped whole and counted."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.detect.ids.lines import LineSplitter


def test_partial_line_waits_for_its_newline():
    s = LineSplitter(100)
    assert s.feed(b"one\ntw") == [b"one"]
    assert s.pending == 2
    assert s.feed(b"o\nthree") == [b"two"]
    assert s.feed(b"\n") == [b"three"]
    assert s.pending == 0


def test_over_long_line_dropped_once_even_across_feeds():
    s = LineSplitter(10)
    assert s.feed(b"x" * 8) == []
    assert s.feed(b"x" * 8) == []  # now over: counted, rest skipped
    assert s.feed(b"x" * 50) == []
    assert s.feed(b"xx\nok\n") == [b"ok"]
    assert s.overlong == 1
    assert s.feed(b"y" * 11 + b"\nfine\n") == [b"fine"]
    assert s.overlong == 2
    assert s.pending == 0


def test_skip_to_newline_is_not_counted():
    s = LineSplitter(10)
    s.skip_to_newline()
    assert s.feed(b"tail of a line\nnext\n") == [b"next"]
    assert s.overlong == 0


def test_flush_and_reset():
    s = LineSplitter(10)
    s.feed(b"abc")
    assert s.flush() == b"abc" and s.flush() is None
    s.feed(b"abc")
    s.reset()
    assert s.feed(b"d\n") == [b"d"]


@given(st.lists(st.binary(max_size=40), max_size=30), st.integers(1, 30))
def test_any_chunking_gives_the_same_lines(chunks, limit):
    data = b"".join(chunks)
    whole = LineSplitter(limit)
    expected = whole.feed(data)
    pieces = LineSplitter(limit)
    got = [line for chunk in chunks for line in pieces.feed(chunk)]
    assert got == expected
    assert pieces.overlong == whole.overlong
    assert all(len(line) <= limit for line in got)
    assert pieces.pending <= limit
