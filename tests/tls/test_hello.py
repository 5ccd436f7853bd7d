"""The ClientHello parser and the JA3/JA4 fingerprints: published reference values,
tables of broken input, and properties over arbitrary bytes."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyswitch.testing.clienthello import (
    client_hello,
    ext_alpn,
    ext_groups,
    ext_point_formats,
    ext_sigalgs,
    ext_sni,
    ext_versions,
    hello_body,
    records,
)
from honeyswitch.tls.fingerprint import fingerprints, ja3_hash, ja3_string, ja4, ja4_raw
from honeyswitch.tls.hello import HelloError, HelloReader, is_grease, read_client_hello

SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
CHROME_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
                  0xC014, 0x009C, 0x009D, 0x002F, 0x0035]


def _exts(order: list[int], *, groups: list[int], alpn: list[bytes]) -> list[tuple[int, bytes]]:
    known = dict([ext_sni(b"example.com"), ext_alpn(alpn), ext_groups(groups), ext_point_formats([0]),
                  ext_sigalgs(SIGALGS), ext_versions([0x6A6A, 0x0304, 0x0303])])
    return [(kind, known.get(kind, b"")) for kind in order]


def test_foxio_reference_example() -> None:
    """The worked example of FoxIO's JA4.md: t13d1516h2_8daaf6152771_e5627efa2ab1."""
    order = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012,
             0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
    hello = read_client_hello(client_hello(CHROME_CIPHERS, _exts(order, groups=[0x1D, 0x17, 0x18], alpn=[b"h2"])))
    assert ja4(hello) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert ja4_raw(hello) == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,"
        "000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601")


def test_chrome_reference_with_grease() -> None:
    """A Chrome 143 hello as published with its JA3 and JA4 (GREASE added back in, as
    Chrome sends it: the fingerprints must not change)."""
    order = [0x3A3A, 45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27, 0x4A4A]
    hello = read_client_hello(client_hello(
        [0x2A2A, *CHROME_CIPHERS], _exts(order, groups=[0x5A5A, 4588, 29, 23, 24], alpn=[b"h2", b"http/1.1"])))
    assert hello.grease
    assert ja3_string(hello) == ("771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
                                 "45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0")
    assert ja3_hash(hello) == "98487aa16281980e7d1120d399efb6a4"
    assert ja4(hello) == "t13d1516h2_8daaf6152771_d8a2da3f94cd"


def test_classic_ja3_reference() -> None:
    """The JA3 README's example string and hash (a TLS 1.0 hello without ALPN/SNI)."""
    ciphers = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]
    exts = [(0, b""), ext_groups([23, 24, 25]), ext_point_formats([0])]
    hello = read_client_hello(client_hello(ciphers, exts, version=0x0301))
    assert ja3_string(hello) == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    assert ja3_hash(hello) == "ada70206e40642a3e4461f35503241d5"
    # No supported_versions: the legacy version; an (empty) SNI extension still says "d".
    assert ja4(hello).startswith("t10d1203" + "00_")


@pytest.mark.parametrize("alpn, chars", [
    ([b"http/1.1"], "h1"), ([b"h2", b"http/1.1"], "h2"), ([b"h"], "hh"), ([], "00"),
    ([b"\x00ab\xff"], "0f"), ([b"ab!"], "61"),
])
def test_ja4_alpn_characters(alpn: list[bytes], chars: str) -> None:
    exts = [ext_alpn(alpn)] if alpn else []
    hello = read_client_hello(client_hello([0x1301], exts))
    assert ja4(hello)[8:10] == chars


def test_ja4_without_extensions_or_sigalgs() -> None:
    hello = read_client_hello(client_hello([0x002F], []))
    assert ja4(hello) == "t12i010000_" + ja4(hello)[11:23] + "_000000000000"
    # Extensions but no signature algorithms: no trailing underscore before hashing
    # (FoxIO's example value for this list).
    order = [0x0005, 0x000A, 0x000B, 0x000D, 0x0012, 0x0015, 0x0017, 0x001B, 0x0023, 0x002B, 0x002D,
             0x0033, 0x4469, 0xFF01]
    known = dict([ext_groups([0x1D]), ext_point_formats([0]), ext_versions([0x0304]), (0x000D, b"\x00\x00")])
    hello = read_client_hello(client_hello([0x1301], [(e, known.get(e, b"")) for e in order]))
    assert ja4(hello).endswith("_6d807ffa2a79")


def test_fields_in_order() -> None:
    data = client_hello([0x0A0A, 0x1301, 0x002F], [ext_sni(b"a.test"), ext_alpn([b"http/1.1"]),
                        ext_groups([0x001D]), ext_versions([0x0304])], session_id=b"s" * 32)
    hello = read_client_hello(data)
    assert hello.sni == b"a.test" and hello.alpn == (b"http/1.1",)
    assert hello.ciphers == (0x0A0A, 0x1301, 0x002F)
    assert hello.extensions == (0x0000, 0x0010, 0x000A, 0x002B)
    assert hello.max_version == 0x0304 and hello.session_id_len == 32
    assert fingerprints(hello).ja4.startswith("t13d0204h1_")


def test_grease_values() -> None:
    assert [v for v in range(0x10000) if is_grease(v)] == [0x0A0A + 0x1010 * i for i in range(16)]


def test_sni_with_control_bytes_is_kept_raw() -> None:
    hello = read_client_hello(client_hello([0x1301], [ext_sni(b"evil\r\n\x1b[31m.test")]))
    assert hello.sni == b"evil\r\n\x1b[31m.test"


@pytest.mark.parametrize("data, reason", [
    (b"GET / HTTP/1.1\r\n", "not a TLS handshake record"),
    (b"\x80\x2e\x01\x03\x01", "SSLv2-format hello"),
    (b"\x16\x02\x00\x00\x05hello", "record version is not 3.x"),
    (b"\x16\x03\x01\x00\x00", "bad record length"),
    (b"\x16\x03\x01\xff\xff", "bad record length"),
    (b"\x16\x03\x01\x00\x04\x02\x00\x00\x00", "first handshake message is not a ClientHello"),
    (records(b"\x03\x03"), "truncated random"),
    (records(hello_body([0x1301], [])[:-3]), "truncated cipher suites"),
    (records(hello_body([0x1301], [(0, b""), (0, b"")])), "duplicate extension 0x0000"),
    (records(hello_body([0x1301], [ext_sni(b"x")]) + b"!"), "trailing bytes after extensions"),
    (records(hello_body([0x1301], [(0x0010, b"\x00\x03\x09h2")])), "truncated alpn protocol"),
    (records(hello_body([0x1301], [(0x000A, b"\x00\x03abc")])), "odd length supported groups"),
    (records(hello_body([], [])), "no cipher suites"),
    (b"\x16\x03\x01\x00\x04\x01\xff\xff\xff", "ClientHello too large"),
    (records(hello_body([0x1301], [])) + b"\x17\x03\x03\x00\x01x", None),  # complete before the 0x17
])
def test_broken_input(data: bytes, reason: str | None) -> None:
    if reason is None:
        assert read_client_hello(data).ciphers == (0x1301,)
        return
    with pytest.raises(HelloError) as err:
        read_client_hello(data)
    assert err.value.reason == reason


def test_record_of_another_type_inside_the_hello() -> None:
    data = client_hello([0x1301], [ext_sni(b"x" * 100)], split=50)
    with pytest.raises(HelloError, match="another type"):
        HelloReader().feed(data[:55] + b"\x17" + data[56:])


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    reader = HelloReader()
    try:
        reader.feed(data)
    except HelloError:
        assert reader.done


@given(split=st.integers(1, 300), cut=st.integers(0, 2000), sni=st.binary(max_size=80),
       alpn=st.lists(st.binary(min_size=1, max_size=20), max_size=4))
@settings(max_examples=200, deadline=None)
def test_fragments_and_byte_by_byte(split: int, cut: int, sni: bytes, alpn: list[bytes]) -> None:
    exts = [ext_sni(sni), ext_groups([0x1D, 0x17])] + ([ext_alpn(alpn)] if alpn else [])
    whole = client_hello([0x1301, 0xC02B], exts, split=split)
    reader = HelloReader()
    got = None
    for i in range(0, len(whole), 7):
        got = reader.feed(whole[i:i + 7])
        if got is not None:
            break
    assert got is not None and got.sni == sni and got.alpn == tuple(alpn)
    assert got == read_client_hello(whole)
    if cut < len(whole):
        assert HelloReader().feed(whole[:cut]) is None  # a prefix is never an answer
