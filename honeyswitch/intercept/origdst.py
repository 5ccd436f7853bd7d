"""The original destination of a connection the firewall redirected to us.

With ``redirect`` (nat REDIRECT), the kernel rewrote the destination to our listener;
conntrack still knows where the client was going, and hands it out through
``SO_ORIGINAL_DST`` (IPv4) or ``IP6T_SO_ORIGINAL_DST`` (IPv6).  With ``tproxy`` nothing
was rewritten: the accepted socket's local address already is the original destination.

The family to ask is decided by the local address, not the socket's family: a dual-stack
IPv6 socket carrying an IPv4 connection (``::ffff:a.b.c.d``) has an IPv4 conntrack entry.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h
IP6T_SO_ORIGINAL_DST = 80  # linux/netfilter_ipv6/ip6_tables.h
SOL_IPV6 = 41
_SOCKADDR_IN = 16
_SOCKADDR_IN6 = 28


def original_dst(sock: Any) -> tuple[str, int] | None:
    """(ip, port) the client connected to before a REDIRECT, or None when the
    connection was not redirected (no conntrack entry) or the socket is not TCP/IP."""
    try:
        local = sock.getsockname()
    except OSError:
        return None
    if not isinstance(local, tuple) or not local:
        return None
    try:
        if "." in str(local[0]):  # IPv4, or IPv4-mapped on an IPv6 socket
            return parse_sockaddr_in(sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, _SOCKADDR_IN))
        return parse_sockaddr_in6(sock.getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST, _SOCKADDR_IN6))
    except (OSError, ValueError):
        return None


def parse_sockaddr_in(raw: bytes) -> tuple[str, int]:
    """A ``struct sockaddr_in``: family (host order), port, address (network order)."""
    if len(raw) < 8:
        raise ValueError(f"sockaddr_in too short: {len(raw)} bytes")
    (family,) = struct.unpack_from("=H", raw, 0)
    if family != socket.AF_INET:
        raise ValueError(f"not AF_INET: {family}")
    port, addr = struct.unpack_from("!H4s", raw, 2)
    return str(ipaddress.IPv4Address(addr)), port


def parse_sockaddr_in6(raw: bytes) -> tuple[str, int]:
    """A ``struct sockaddr_in6``: family, port, flowinfo, address, scope id."""
    if len(raw) < 24:
        raise ValueError(f"sockaddr_in6 too short: {len(raw)} bytes")
    (family,) = struct.unpack_from("=H", raw, 0)
    if family != socket.AF_INET6:
        raise ValueError(f"not AF_INET6: {family}")
    port, _flow, addr = struct.unpack_from("!HI16s", raw, 2)
    ip = ipaddress.IPv6Address(addr)
    return (str(ip.ipv4_mapped) if ip.ipv4_mapped else str(ip)), port


def original_dst_or(sock: Any, fallback: tuple[str, int]) -> tuple[str, int]:
    """The original destination if the connection was redirected, else ``fallback``."""
    if sock is None:
        return fallback
    return original_dst(sock) or fallback
