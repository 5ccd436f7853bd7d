"""Blacklist exports for the kernel's firewall: plain text, an nftables set, ipset lists.

Pure functions from entries to text (tested by comparison), so the firewall can drop
blacklisted sources before they reach honeyswitch, or route them elsewhere.  nftables and
ipset sets hold one address family each, so IPv4 goes to ``honeyswitch_blacklist`` and
IPv6 to ``honeyswitch_blacklist6``.  Entries that expire carry their remaining time as a
timeout, so the kernel forgets them when honeyswitch does.
"""
from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from typing import Any

NFT_TABLE = "inet honeyswitch"
SET_V4 = "honeyswitch_blacklist"
SET_V6 = "honeyswitch_blacklist6"
FORMATS = ("text", "nft", "ipset")
_CHUNK = 256  # elements per nft "add element" line


def _split(entries: Iterable[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """IPv4 and IPv6 entries, each in address order."""
    keyed = sorted(((ipaddress.ip_address(e["ip"]), e) for e in entries), key=lambda p: (p[0].version, p[0]))
    v4 = [e for a, e in keyed if a.version == 4]
    v6 = [e for a, e in keyed if a.version == 6]
    return v4, v6


def _remaining(entry: Mapping[str, Any], now: float) -> int | None:
    """Whole seconds left (at least 1), or None for an entry that never expires."""
    expires = entry.get("expires")
    if expires is None:
        return None
    return max(1, math.ceil(float(expires) - now))


def export_text(entries: Iterable[Mapping[str, Any]], now: float = 0.0) -> str:
    """One address per line, IPv4 first."""
    v4, v6 = _split(entries)
    return "".join(f"{e['ip']}\n" for e in v4 + v6)


def export_nft(entries: Iterable[Mapping[str, Any]], now: float) -> str:
    """An ``nft -f`` file: declare the table and both sets, flush them, add the entries
    (one transaction, so the sets are never seen empty)."""
    v4, v6 = _split(entries)
    lines = [
        "#!/usr/sbin/nft -f",
        "# honeyswitch blacklist; load with: nft -f FILE",
        f"table {NFT_TABLE} {{",
        f"\tset {SET_V4} {{",
        "\t\ttype ipv4_addr",
        "\t\tflags timeout",
        "\t}",
        f"\tset {SET_V6} {{",
        "\t\ttype ipv6_addr",
        "\t\tflags timeout",
        "\t}",
        "}",
        f"flush set {NFT_TABLE} {SET_V4}",
        f"flush set {NFT_TABLE} {SET_V6}",
    ]
    for name, group in ((SET_V4, v4), (SET_V6, v6)):
        for i in range(0, len(group), _CHUNK):
            elements = []
            for e in group[i:i + _CHUNK]:
                left = _remaining(e, now)
                elements.append(e["ip"] if left is None else f"{e['ip']} timeout {left}s")
            lines.append(f"add element {NFT_TABLE} {name} {{ {', '.join(elements)} }}")
    return "\n".join(lines) + "\n"


def export_ipset(entries: Iterable[Mapping[str, Any]], now: float) -> str:
    """An ``ipset restore`` file: create both sets (timeout 0 = entries may be permanent),
    flush them, add the entries."""
    v4, v6 = _split(entries)
    lines = [
        f"create {SET_V4} hash:ip family inet timeout 0 -exist",
        f"create {SET_V6} hash:ip family inet6 timeout 0 -exist",
        f"flush {SET_V4}",
        f"flush {SET_V6}",
    ]
    for name, group in ((SET_V4, v4), (SET_V6, v6)):
        for e in group:
            left = _remaining(e, now)
            lines.append(f"add {name} {e['ip']} timeout {left or 0} -exist")
    return "\n".join(lines) + "\n"


def export(fmt: str, entries: Iterable[Mapping[str, Any]], now: float) -> str:
    """Export in ``fmt`` (one of :data:`FORMATS`); ValueError for another."""
    if fmt == "text":
        return export_text(entries, now)
    if fmt == "nft":
        return export_nft(entries, now)
    if fmt == "ipset":
        return export_ipset(entries, now)
    raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
