"""PROXY protocol v2 header (haproxy.org/download/2.6/doc/proxy-protocol.txt), so that
servers which support it (nginx, HAProxy, ...) see the real client address."""
from __future__ import annotations

import ipaddress
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_PROXY_CMD = 0x21  # version 2, command PROXY
_LOCAL_CMD = 0x20  # version 2, command LOCAL (no addresses)


def v2_header(src: tuple[str, int], dst: tuple[str, int], tlvs: bytes = b"") -> bytes:
    """Header for a TCP connection from ``src`` to ``dst`` (IPv4 or IPv6), with ``tlvs``
    (already encoded) after the addresses."""
    try:
        s, d = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    except ValueError:
        return SIGNATURE + struct.pack("!BBH", _LOCAL_CMD, 0x00, 0)
    if s.version != d.version:
        # Mixed families: express both as IPv6 (IPv4-mapped).
        s, d = _as_v6(s), _as_v6(d)
    body = s.packed + d.packed + struct.pack("!HH", src[1], dst[1]) + tlvs
    return SIGNATURE + struct.pack("!BBH", _PROXY_CMD, 0x11 if s.version == 4 else 0x21, len(body)) + body


PP2_TYPE_ALPN = 0x01
PP2_TYPE_AUTHORITY = 0x02  # the host name the client asked for: its SNI
PP2_TYPE_SSL = 0x20
PP2_SUBTYPE_SSL_VERSION = 0x21
PP2_SUBTYPE_SSL_CIPHER = 0x23
PP2_CLIENT_SSL = 0x01


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def tls_tlvs(handshake: object | None) -> bytes:
    """The TLS facts of a terminated session as PROXY v2 TLVs (spec section 2.2): ALPN,
    the SNI as AUTHORITY, and PP2_TYPE_SSL with the version and cipher.  ``verify`` is
    non-zero: no client certificate was verified."""
    if handshake is None:
        return b""
    out = b""
    alpn = getattr(handshake, "alpn", None)
    if alpn:
        out += tlv(PP2_TYPE_ALPN, alpn.encode("ascii", "replace"))
    sni = getattr(handshake, "sni", None)
    if sni:
        out += tlv(PP2_TYPE_AUTHORITY, sni[:255])
    sub = tlv(PP2_SUBTYPE_SSL_VERSION, str(getattr(handshake, "version_name", "")).encode("ascii", "replace"))
    cipher = getattr(handshake, "cipher", None)
    if cipher:
        sub += tlv(PP2_SUBTYPE_SSL_CIPHER, cipher.encode("ascii", "replace"))
    return out + tlv(PP2_TYPE_SSL, struct.pack("!BI", PP2_CLIENT_SSL, 1) + sub)


def _as_v6(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    return a if a.version == 6 else ipaddress.IPv6Address(f"::ffff:{a}")


def parse_v2(data: bytes) -> tuple[bytes, dict[int, bytes], int] | None:
    """A PROXY v2 header at the start of ``data``: (address block, TLVs by type with the
    SSL TLV's sub-TLVs flattened in, header length), or None if incomplete or absent."""
    if len(data) < 16 or not data.startswith(SIGNATURE):
        return None
    family, length = data[13], struct.unpack("!H", data[14:16])[0]
    if len(data) < 16 + length:
        return None
    body = data[16:16 + length]
    addr_len = {0x11: 12, 0x21: 36}.get(family, 0)
    tlvs: dict[int, bytes] = {}
    _tlvs(body[addr_len:], tlvs)
    return body[:addr_len], tlvs, 16 + length


def _tlvs(data: bytes, out: dict[int, bytes]) -> None:
    pos = 0
    while pos + 3 <= len(data):
        kind, n = data[pos], struct.unpack("!H", data[pos + 1:pos + 3])[0]
        value = data[pos + 3:pos + 3 + n]
        out[kind] = value
        if kind == PP2_TYPE_SSL and len(value) >= 5:
            _tlvs(value[5:], out)
        pos += 3 + n
