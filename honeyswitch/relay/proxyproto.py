"""PROXY protocol v2 header (haproxy.org/download/2.6/doc/proxy-protocol.txt), so that
servers which support it (nginx, HAProxy, ...) see the real client address."""
from __future__ import annotations

import ipaddress
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_PROXY_CMD = 0x21  # version 2, command PROXY
_LOCAL_CMD = 0x20  # version 2, command LOCAL (no addresses)


def v2_header(src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    """Header for a TCP connection from ``src`` to ``dst`` (IPv4 or IPv6)."""
    try:
        s, d = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    except ValueError:
        return SIGNATURE + struct.pack("!BBH", _LOCAL_CMD, 0x00, 0)
    if s.version != d.version:
        # Mixed families: express both as IPv6 (IPv4-mapped).
        s, d = _as_v6(s), _as_v6(d)
    if s.version == 4:
        body = s.packed + d.packed + struct.pack("!HH", src[1], dst[1])
        return SIGNATURE + struct.pack("!BBH", _PROXY_CMD, 0x11, len(body)) + body
    body = s.packed + d.packed + struct.pack("!HH", src[1], dst[1])
    return SIGNATURE + struct.pack("!BBH", _PROXY_CMD, 0x21, len(body)) + body


def _as_v6(a: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    return a if a.version == 6 else ipaddress.IPv6Address(f"::ffff:{a}")
