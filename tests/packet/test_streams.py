"""Reassembly and the retransmitting sender, as tables and properties."""
from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.packet import seq
from honeyswitch.packet.reasm import Reassembler
from honeyswitch.packet.sender import Sender


def test_sequence_arithmetic_wraps() -> None:
    assert seq.diff(5, 2**32 - 3) == 8
    assert seq.lt(2**32 - 3, 5) and not seq.lt(5, 2**32 - 3)
    isn = 2**32 - 10
    assert seq.wrap(20, isn) == 11
    assert seq.unwrap(11, isn, 0) == 20
    assert seq.unwrap(seq.wrap(5_000_000_000, isn), isn, 4_999_000_000) == 5_000_000_000


def chop(data: bytes, rng: random.Random) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        n = rng.randint(1, 50)
        out.append((pos, data[pos:pos + n]))
        pos += n
    return out


@given(st.binary(min_size=1, max_size=2000), st.integers(0, 10_000))
def test_any_order_with_duplicates_delivers_the_stream_once(data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    segments = chop(data, rng)
    segments += rng.sample(segments, k=min(len(segments), 5))  # retransmissions
    rng.shuffle(segments)
    r = Reassembler(1 << 20)
    out = b"".join(r.feed(p, d) or b"" for p, d in segments)
    assert out == data and r.nxt == len(data) and r.holding == 0


def test_contradicting_overlap_is_refused() -> None:
    r = Reassembler(1 << 20)
    assert r.feed(10, b"world") == b""  # held out of order
    assert r.feed(10, b"WORLD") is None  # same place, other bytes
    assert r.feed(0, b"hello, ") == b"hello, "
    assert r.feed(7, b"theWO") is None  # fills the hole, but contradicts the held "wo"
    assert r.feed(7, b"thewo") == b"theworld"
    r2 = Reassembler(1 << 20)
    assert r2.feed(0, b"GET /") == b"GET /"
    assert r2.feed(0, b"GET /") == b""  # a faithful retransmission
    assert r2.feed(0, b"PUT /") is None  # a lying one, still unacknowledged
    r2.acked(5)
    assert r2.feed(0, b"PUT /") == b""  # acknowledged bytes: the receiver ignores them anyway


def test_sack_blocks_merge_and_put_the_latest_first() -> None:
    r = Reassembler(1 << 20)
    r.feed(10, b"a" * 10)
    r.feed(20, b"b" * 5)
    r.feed(40, b"c" * 5)
    assert r.sack_blocks() == [(40, 45), (10, 25)]


def test_fin_ends_the_stream_after_the_last_byte() -> None:
    r = Reassembler(1 << 20)
    assert r.feed(3, b"", fin=True) == b""
    assert not r.eof
    assert r.feed(0, b"abc") == b"abc" and r.eof


def test_sender_sends_within_the_window_and_fills_a_hole() -> None:
    s = Sender(mss=4)
    s.push(b"0123456789")
    s.window = 8
    first = s.sendable()
    assert [(x.pos, x.data) for x in first] == [(0, b"0123"), (4, b"4567")]
    assert [(x.pos, x.data) for x in s.on_ack(4, 8)] == [(8, b"89")]  # the window moved on
    # three duplicate ACKs at 4 resend 4..8
    out = []
    for _ in range(3):
        out += s.on_ack(4, 8)
    assert (4, b"4567") in [(x.pos, x.data) for x in out]
    assert [x.data for x in s.on_ack(12, 8)] == []  # past the end: all acked
    assert s.backlog == 0


def test_sender_timer_backs_off_and_gives_up() -> None:
    s = Sender(mss=100)
    s.push(b"x" * 50)
    s.sendable()
    for i in range(8):
        assert [x.pos for x in s.on_timer()] == [0]
        assert s.gave_up == (i == 7)


def test_sender_fin_after_data() -> None:
    s = Sender(mss=100)
    s.push(b"abc")
    s.close()
    segs = s.sendable()
    assert [(x.pos, x.data, x.fin) for x in segs] == [(0, b"abc", False), (3, b"", True)]
    s.on_ack(4, 1000)
    assert s.fin_acked and not s.outstanding


@given(st.binary(min_size=1, max_size=3000), st.integers(0, 1000))
def test_lossy_link_still_delivers_everything(data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    s, r = Sender(mss=100), Reassembler(1 << 20)
    s.push(data)
    s.window = 600
    inflight = s.sendable()
    for _ in range(2000):
        if r.nxt == len(data):
            break
        arrived = [x for x in inflight if rng.random() > 0.3]
        rng.shuffle(arrived)
        for x in arrived:
            r.feed(x.pos, x.data)
        inflight = s.on_ack(r.nxt, 600) if arrived else s.on_timer()
        if not inflight and r.nxt < len(data):
            inflight = s.on_timer()
    assert r.nxt == len(data)
