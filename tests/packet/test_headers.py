"""Packet parsing, rewriting and checksums, without sockets."""
from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.packet import checksum, options
from honeyswitch.packet.headers import ACK, FIN, PSH, SYN, build, parse

A4, B4 = ipaddress.ip_address("198.18.40.2").packed, ipaddress.ip_address("198.18.40.1").packed
A6 = ipaddress.ip_address("2001:2:0:40::2").packed
B6 = ipaddress.ip_address("2001:2:0:40::1").packed


def slow_sum(data: bytes) -> int:
    """The textbook RFC 1071 loop, to check the big-integer shortcut against."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


@given(st.binary(max_size=3000))
def test_ones_sum_matches_the_rfc_loop(data: bytes) -> None:
    assert checksum.ones_sum(data) % 0xFFFF == slow_sum(data) % 0xFFFF


@pytest.mark.parametrize("src,dst", [(A4, B4), (A6, B6)])
def test_built_packet_parses_back_with_valid_checksums(src: bytes, dst: bytes) -> None:
    opts = options.build_options(mss=1460, wscale=7, sack_ok=True, ts=(1234, 0))
    raw = build(src, dst, 40000, 80, 1000, 0, SYN, 64240, opts)
    p = parse(raw)
    assert p is not None
    assert (p.src, p.dst, p.sport, p.dport, p.seq, p.ack, p.flags) == (src, dst, 40000, 80, 1000, 0, SYN)
    assert checksum.verify_tcp(src, dst, raw[p.tcp_at:p.end])
    o = options.parse_options(p.options)
    assert (o.mss, o.wscale, o.sack_ok, o.ts) == (1460, 7, True, (1234, 0))
    if len(src) == 4:
        assert checksum.ones_sum(raw[:20]) % 0xFFFF == 0  # IPv4 header checksum


fields = st.fixed_dictionaries({
    "sport": st.integers(1, 65535), "dport": st.integers(1, 65535),
    "seq": st.integers(0, 2**32 - 1), "ack": st.integers(0, 2**32 - 1),
    "window": st.integers(0, 65535), "flags": st.sampled_from([ACK, ACK | PSH, ACK | FIN, SYN | ACK]),
})


@given(fields, fields, st.binary(max_size=1400), st.booleans(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_incremental_rewrite_equals_a_fresh_build(a: dict, b: dict, payload: bytes, v6: bool,
                                                 tsval: int, tsecr: int) -> None:
    src, dst, src2, dst2 = (A6, B6, B6, A6) if v6 else (A4, B4, B4, A4)
    opts = options.build_options(ts=(1, 2), sack=[(5, 9), (20, 30)])
    raw = build(src, dst, a["sport"], a["dport"], a["seq"], a["ack"], a["flags"], a["window"], opts, payload)
    p = parse(raw)
    assert p is not None
    p.set_src(src2, b["sport"])
    p.set_dst(dst2, b["dport"])
    p.set_seq(b["seq"])
    p.set_ack(b["ack"])
    p.set_window(b["window"])
    p.set_flags(b["flags"])
    o = options.parse_options(p.options)
    p.set_option_bytes(o.ts_at + 2, options.ts_bytes(tsval, tsecr))
    p.set_option_bytes(o.sack_at, options.sack_bytes([(7, 8)], o.sack_len))
    out = p.finish()
    want = build(src2, dst2, b["sport"], b["dport"], b["seq"], b["ack"], b["flags"], b["window"],
                 _expected_options(opts, o, tsval, tsecr), payload)
    assert out == want


def _expected_options(opts: bytes, o: options.Options, tsval: int, tsecr: int) -> bytes:
    raw = bytearray(opts)
    raw[o.ts_at + 2:o.ts_at + 10] = options.ts_bytes(tsval, tsecr)
    raw[o.sack_at:o.sack_at + o.sack_len] = options.sack_bytes([(7, 8)], o.sack_len)
    return bytes(raw)


@pytest.mark.parametrize("v6", [False, True])
def test_truncating_the_payload_fixes_lengths_and_checksum(v6: bool) -> None:
    src, dst = (A6, B6) if v6 else (A4, B4)
    p = parse(build(src, dst, 1, 2, 3, 4, ACK | PSH, 5, b"", b"hello world"))
    assert p is not None
    p.set_seq(99)
    p.truncate_payload(0)
    assert p.finish() == build(src, dst, 1, 2, 99, 4, ACK | PSH, 5)


@pytest.mark.parametrize("raw", [
    b"", b"\x45" + b"\0" * 10,
    build(A4, B4, 1, 2, 3, 4, ACK, 5)[:30],  # truncated
    bytes([0x45, 0, 0, 40, 0, 0, 0x20, 0, 64, 6, 0, 0]) + A4 + B4 + b"\0" * 20,  # more fragments
    bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0]) + A4 + B4 + b"\0" * 20,  # UDP
])
def test_what_is_not_handled_parses_to_none(raw: bytes) -> None:
    assert parse(raw) is None


def test_ipv6_hop_by_hop_header_is_skipped() -> None:
    base = build(A6, B6, 1, 2, 3, 4, ACK, 5, b"", b"xy")
    hbh = bytes([6, 0, 1, 4, 0, 0, 0, 0])  # next header TCP, PadN
    raw = bytearray(base[:40] + hbh + base[40:])
    raw[6] = 0  # next header: hop-by-hop
    raw[4:6] = struct.pack("!H", len(raw) - 40)
    p = parse(bytes(raw))
    assert p is not None and p.tcp_at == 48 and p.payload == b"xy"


@given(st.binary(max_size=40))
def test_option_parsing_never_fails(raw: bytes) -> None:
    options.parse_options(raw)


def test_refused_options_are_found_and_clamped() -> None:
    raw = bytes([options.MSS, 4, 5, 180, options.FASTOPEN, 2, options.MPTCP, 4, 0, 0,
                 options.EXPERIMENTAL, 4, 0xF9, 0x89, options.NOP, options.NOP])
    o = options.parse_options(raw)
    assert [k for k, _, _ in o.refused] == [options.FASTOPEN, options.MPTCP, options.EXPERIMENTAL]
    patched = bytearray(raw)
    for at, data in options.clamp_syn(o):
        patched[at:at + len(data)] = data
    again = options.parse_options(bytes(patched))
    assert again.refused == [] and again.mss == 1460


def test_sack_bytes_keep_the_option_length() -> None:
    assert len(options.sack_bytes([(1, 2)] * 4, 26)) == 26
    assert options.sack_bytes([], 10) == bytes([options.NOP]) * 10
    o = options.parse_options(options.sack_bytes([(1, 2), (3, 4), (5, 6)], 26))
    assert o.sack == [(1, 2), (3, 4), (5, 6)]
