"""Handshake rules: Suricata's ``tls.sni``, ``ja3.hash``, ``ja3.string``, ``ja4.hash``
sticky buffers and ``tls.version``, on sessions whose TLS honeyswitch terminates.

Such a rule is matched once per session, against the client's handshake
(:class:`honeyswitch.tls.facts.Handshake`), as soon as it is done and before main sees
a byte, so a known-bad client fingerprint can switch the session outright.  It may not
mix in stream or HTTP content (a Suricata TLS rule does not either) and applies to
``alert tls`` and ``alert tcp``/``ip`` headers.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import buffers as B
from .errors import Unsupported, invalid
from .header import Header
from .match import Buffer, Chain

_NAMED = {"1.0": 0x0301, "1.1": 0x0302, "1.2": 0x0303, "1.3": 0x0304, "ssl3": 0x0300, "3.0": 0x0300}
WELL_KNOWN_TLS_PORT = 443


def parse_tls_version(value: str | None) -> int:
    text = (value or "").strip().lower()
    if text in _NAMED:
        return _NAMED[text]
    try:
        number = int(text, 16) if text.startswith("0x") else -1
    except ValueError:
        number = -1
    if not 0 <= number <= 0xFFFF:
        raise invalid("tls.version", f"{text[:20]!r} is not 1.0-1.3 or 0xNNNN")
    return number


def check_handshake_rule(header: Header, chains: tuple[Chain, ...], to_server: bool | None,
                         meta: Mapping[str, Any]) -> None:
    if header.app_proto not in (None, "tls"):
        raise Unsupported("tls buffers on a non-tls rule", header.proto)
    if any(c.buffer not in B.TLS_BUFFERS for c in chains):
        raise Unsupported("tls buffers with stream or http content")
    if to_server is False:
        raise Unsupported("tls buffers on to_client (the ClientHello is the client's)")
    if meta.get("packet") or "dsize" in meta or "urilen" in meta:
        raise Unsupported("tls buffers with packet keywords")
    if meta["flowbits"]:
        raise Unsupported("flowbits on a tls handshake rule")


def handshake_buffers(info: Any) -> dict[str, Buffer | None]:
    """The buffers of a handshake; no SNI means no ``tls.sni`` buffer (no match)."""
    sni = getattr(info, "sni", None)
    return {
        "tls.sni": None if sni is None else Buffer(bytes(sni)),
        "ja3.hash": Buffer(str(info.ja3_hash).encode()),
        "ja3.string": Buffer(str(info.ja3).encode()),
        "ja4.hash": Buffer(str(info.ja4).encode()),
    }


def applies(rule: Any, dest_port: int, src_ip: str, dest_ip: str) -> bool:
    """Header ports and literal addresses, client to server (either way for ``<>``)."""
    h: Header = rule.header
    port_ok = h.dport.is_any or h.dport.matches(dest_port) or h.dport.matches(WELL_KNOWN_TLS_PORT)
    if port_ok and h.src.matches(src_ip) and h.dst.matches(dest_ip):
        return True
    if not h.bidirectional:
        return False
    back = h.sport.is_any or h.sport.matches(dest_port) or h.sport.matches(WELL_KNOWN_TLS_PORT)
    return back and h.dst.matches(src_ip) and h.src.matches(dest_ip)
