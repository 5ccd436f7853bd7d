"""Reuseport groups: the kernel's choice of worker agrees with ours (source sharding)."""
from __future__ import annotations

import socket

import pytest

from honeyswitch.cluster.reuseport import bind_group, source_program
from honeyswitch.cluster.worker import WorkerSetup, source_index


def _accepting(socks: list[socket.socket]) -> int | None:
    for i, s in enumerate(socks):
        try:
            conn, _ = s.accept()
        except BlockingIOError:
            continue
        conn.close()
        return i
    return None


def _which(socks: list[socket.socket], src: str, family: int = socket.AF_INET) -> int:
    port = socks[0].getsockname()[1]
    with socket.socket(family, socket.SOCK_STREAM) as c:
        c.bind((src, 0))
        c.connect((socks[0].getsockname()[0], port))
        for _ in range(200):
            index = _accepting(socks)
            if index is not None:
                return index
            socket.socket().close()  # yield a little
        raise AssertionError("no socket of the group accepted")


def test_program_shape():
    prog = source_program(3)
    assert prog[-2][3] == 3 and len(prog) == 8
    with pytest.raises(ValueError):
        source_program(0)


@pytest.mark.parametrize("count", [2, 3])
def test_source_sharding_matches_source_index(count):
    socks = bind_group("127.0.0.1", 0, count, shard="source")
    try:
        assert len({s.getsockname()[1] for s in socks}) == 1
        for last in range(1, 9):
            src = f"127.0.0.{last}"
            assert _which(socks, src) == source_index(src, count), src
            assert _which(socks, src) == source_index(src, count)  # the same again: sticky
    finally:
        for s in socks:
            s.close()


def test_source_sharding_ipv6():
    try:
        socks = bind_group("::1", 0, 2, shard="source")
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        assert _which(socks, "::1", socket.AF_INET6) == source_index("::1", 2) == 1
    finally:
        for s in socks:
            s.close()


def test_connection_sharding_spreads_one_source():
    socks = bind_group("127.0.0.1", 0, 2, shard="connection")
    try:
        seen = {_which(socks, "127.0.0.1") for _ in range(40)}
        assert seen == {0, 1}  # 40 connections from one address reach both workers
    finally:
        for s in socks:
            s.close()


def test_port_in_use_is_an_error_and_closes_everything():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(OSError):
            bind_group("127.0.0.1", taken.getsockname()[1], 2)
    finally:
        taken.close()


def test_owns_source():
    w0 = WorkerSetup(0, 2, "source", socket.socket())
    w1 = WorkerSetup(1, 2, "source", socket.socket())
    assert w1.owns_source("127.0.0.1") and not w0.owns_source("127.0.0.1")
    assert w0.owns_source("198.18.0.2") and not w1.owns_source("198.18.0.2")
    assert w0.owns_source(None) and not w1.owns_source(None)
    conn0 = WorkerSetup(0, 2, "connection", socket.socket())
    assert conn0.owns_source("127.0.0.1")
    assert WorkerSetup(0, 1, "source", socket.socket()).owns_source("127.0.0.1")
    for w in (w0, w1, conn0):
        w.channel.close()
