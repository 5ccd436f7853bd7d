"""The one shape every external IDS alert is parsed into, and the small checks the
parsers share.

Alert logs are hostile input twice over: the IDS writes attacker-chosen bytes into some
fields (HTTP hostnames, payloads), and a log file can be truncated, corrupted or not a
log at all.  So every parser bounds the line length, turns every problem into a
``ValueError`` (never anything else), and leaves only valid Unicode in the strings it
returns.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

MAX_LINE = 64 * 1024  # chars; EVE lines with http/files objects are a few KiB
MAX_TEXT = 1024  # chars kept of msg / classification
MAX_RAW = 512  # chars of the original line kept on the alert

Addr = tuple[str, int]


class LineTooLong(ValueError):
    """A line longer than the parser accepts; counted apart from malformed lines."""


@dataclass(frozen=True, slots=True)
class IdsAlert:
    """One alert from an external IDS, whatever the log format.

    ``src_*``/``dest_*`` are the addresses of the *packet* that fired the rule, which
    may be the server's reply.  ``flow_*`` is the client->server view of the flow when
    the format tells it (EVE ``flow``/``alert.flow`` or ``direction``, Snort 3 ``dir``);
    prefer :attr:`client` and :attr:`server` for matching.

    ``priority`` is the classtype priority (1 = high), which EVE calls ``severity`` and
    fast.log ``[Priority: N]``.  ``severity`` is the rule's own severity word when the
    alert carries one (ET's ``signature_severity`` metadata: Informational, Minor,
    Major, Critical).
    """

    timestamp: float
    sensor: str
    sid: int | None
    gid: int | None
    rev: int | None
    msg: str
    classification: str | None
    priority: int | None
    severity: str | None
    proto: str | None
    src_ip: str | None
    src_port: int | None
    dest_ip: str | None
    dest_port: int | None
    direction: str | None = None  # "to_server" | "to_client" | None
    flow_src_ip: str | None = None
    flow_src_port: int | None = None
    flow_dest_ip: str | None = None
    flow_dest_port: int | None = None
    community_id: str | None = None
    action: str | None = None
    raw: str = ""

    @property
    def client(self) -> Addr | None:
        """The client (ip, port) of the flow, when the alert says which side it is."""
        if self.flow_src_ip is None or self.flow_src_port is None:
            return None
        return (self.flow_src_ip, self.flow_src_port)

    @property
    def server(self) -> Addr | None:
        if self.flow_dest_ip is None or self.flow_dest_port is None:
            return None
        return (self.flow_dest_ip, self.flow_dest_port)


class LineParser(Protocol):
    """What a tailer needs from a parser."""

    name: str

    def parse_line(self, line: str) -> IdsAlert | None: ...


def check_length(line: str, limit: int = MAX_LINE) -> str:
    """Return ``line`` without its line ending; raise :class:`LineTooLong` if too long."""
    if len(line) > limit:
        raise LineTooLong(f"line of {len(line)} chars is over the limit of {limit}")
    return line.rstrip("\r\n")


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """Cut ``text`` to ``limit`` chars and replace lone surrogates (which JSON escapes can
    produce) so the result always encodes as UTF-8."""
    text = text[:limit]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def raw_excerpt(line: str, limit: int = MAX_RAW) -> str:
    return clean_text(line, limit)


@lru_cache(maxsize=8192)  # the same few addresses recur; ipaddress costs ~5 us a call
def normalise_ip(text: str) -> str:
    """Canonical text of an IP address: compressed IPv6, IPv4-mapped IPv6 as IPv4.

    Suricata prints ``1.2.3.4`` where a dual-stack listener sees ``::ffff:1.2.3.4``, and
    Snort 3 JSON prints IPv6 fully expanded; all must land on the same key.
    """
    if len(text) > 64:
        raise ValueError("address too long")
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        raise ValueError(f"bad IP address {text[:64]!r}") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return addr.compressed


def parse_port(text: str | int) -> int:
    if isinstance(text, bool):
        raise ValueError("port is a boolean")
    if isinstance(text, str):
        if not (text.isascii() and text.isdigit() and len(text) <= 5):
            raise ValueError(f"bad port {text[:16]!r}")
        text = int(text)
    if not isinstance(text, int) or not 0 <= text <= 65535:
        raise ValueError(f"bad port {text!r}")
    return text


def parse_int(text: str | int, what: str, limit: int = 1 << 32) -> int:
    """A non-negative integer below ``limit`` from text or JSON; ``ValueError`` otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"{what} is a boolean")
    if isinstance(text, str):
        if not (text.isascii() and text.isdigit() and len(text) <= 20):
            raise ValueError(f"bad {what} {text[:20]!r}")
        text = int(text)
    if not isinstance(text, int) or not 0 <= text < limit:
        raise ValueError(f"bad {what} {text!r}")
    return text


def split_hostport(text: str, with_port: bool = True) -> tuple[str, int | None]:
    """``1.2.3.4:80``, ``2001:db8::1:80`` or ``[2001:db8::1]:80`` -> (ip, port).

    IPv6 addresses hold colons, so the port is whatever follows the last one; formats
    that print no port (Snort for ICMP) pass ``with_port=False``.
    """
    if not with_port:
        return normalise_ip(text), None
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError(f"no port in {text[:80]!r}")
    return normalise_ip(host), parse_port(port)


def flow_view(
    direction: str | None, src: tuple[str | None, int | None], dst: tuple[str | None, int | None]
) -> tuple[str | None, int | None, str | None, int | None]:
    """The client->server (ip, port, ip, port) from a packet's addresses and direction."""
    if direction == "to_server":
        return (*src, *dst)
    if direction == "to_client":
        return (*dst, *src)
    return (None, None, None, None)
