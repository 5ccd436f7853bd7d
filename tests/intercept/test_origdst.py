"""The original destination: struct parsing (pure), and real sockets without conntrack."""
from __future__ import annotations

import socket
import struct

import pytest

from honeyswitch.intercept.origdst import (
    original_dst,
    original_dst_or,
    parse_sockaddr_in,
    parse_sockaddr_in6,
)


def sockaddr_in(ip: str, port: int) -> bytes:
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(ip) + bytes(8)


def sockaddr_in6(ip: str, port: int) -> bytes:
    return (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0)
            + socket.inet_pton(socket.AF_INET6, ip) + bytes(4))


def test_parse_ipv4():
    assert parse_sockaddr_in(sockaddr_in("198.18.0.1", 80)) == ("198.18.0.1", 80)


def test_parse_ipv6_and_mapped():
    assert parse_sockaddr_in6(sockaddr_in6("2001:db8::5", 443)) == ("2001:db8::5", 443)
    assert parse_sockaddr_in6(sockaddr_in6("::ffff:198.18.0.9", 8080)) == ("198.18.0.9", 8080)


@pytest.mark.parametrize("raw", [b"", b"\x02\x00\x00", sockaddr_in6("::1", 1)])
def test_bad_sockaddr_in(raw):
    with pytest.raises(ValueError):
        parse_sockaddr_in(raw)


@pytest.mark.parametrize("raw", [b"", sockaddr_in6("::1", 1)[:20], sockaddr_in("198.18.0.1", 1) + bytes(12)])
def test_bad_sockaddr_in6(raw):
    with pytest.raises(ValueError):
        parse_sockaddr_in6(raw)


class Broken:
    def getsockname(self) -> tuple[str, int]:
        raise OSError("closed")


def test_a_connection_that_was_not_redirected_has_none():
    with socket.create_server(("127.0.0.1", 0)) as srv:
        client = socket.create_connection(srv.getsockname())
        conn, _ = srv.accept()
        with client, conn:
            # Without a NAT conntrack entry the kernel answers ENOENT: no original destination.
            result = original_dst(conn)
            assert result is None or result == conn.getsockname()
            assert original_dst_or(conn, ("x", 1)) in (("x", 1), conn.getsockname())
    assert original_dst(Broken()) is None
    assert original_dst_or(None, ("198.18.0.1", 80)) == ("198.18.0.1", 80)
