"""The request splitter: client bytes between two server replies, chunked any way."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.detect.anomaly import Request, RequestSplitter, split_stream

CONVERSATION = [
    ("client", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("server", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
    ("client", b"SET a 1\r\n"),
    ("client", b"SET b 2\r\n"),  # pipelined: one request until the server answers
    ("server", b"+OK\r\n"),
    ("server", b"+OK\r\n"),  # more server data, nothing pending: no request
    ("client", b"QUIT\r\n"),  # never answered: flushed at end
]
EXPECTED = [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"SET a 1\r\nSET b 2\r\n", b"QUIT\r\n"]


def test_conversation() -> None:
    reqs = split_stream(CONVERSATION)  # type: ignore[arg-type]
    assert [r.data for r in reqs] == EXPECTED
    assert all(not r.truncated and r.length == len(r.data) for r in reqs)


def test_server_first_and_empty_chunks() -> None:
    s = RequestSplitter()
    assert s.feed("server", b"220 banner\r\n") == []
    assert s.feed("client", b"") == [] and s.feed("server", b"") == []
    assert s.feed("client", b"HELO x\r\n") == []
    assert s.feed("server", b"") == []  # an empty read is not a reply
    assert s.pending_length == 8
    assert s.feed("server", b"250 ok\r\n") == [Request(b"HELO x\r\n", 8)]
    assert s.end() == []


def test_cap_keeps_prefix_and_counts_rest() -> None:
    s = RequestSplitter(cap=10)
    s.feed("client", b"0123456")
    s.feed("client", b"789abcdef")
    s.feed("client", b"XYZ")
    (req,) = s.feed("server", b"ok")
    assert req.data == b"0123456789" and req.length == 19 and req.truncated


def test_bad_direction_and_cap() -> None:
    with pytest.raises(ValueError):
        RequestSplitter().feed("main", b"x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RequestSplitter(cap=0)


@st.composite
def chunked(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """CONVERSATION with every message cut into random pieces."""
    out = []
    for direction, data in CONVERSATION:
        cuts = sorted(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=4, unique=True)))
        pos = 0
        for c in [*cuts, len(data)]:
            out.append((direction, data[pos:c]))
            pos = c
    return out


@given(chunked(), st.integers(1, 64))
def test_chunking_does_not_change_requests(events: list[tuple[str, bytes]], cap: int) -> None:
    reqs = split_stream(events, cap=cap)  # type: ignore[arg-type]
    assert [r.data for r in reqs] == [e[:cap] for e in EXPECTED]
    assert [r.length for r in reqs] == [len(e) for e in EXPECTED]
