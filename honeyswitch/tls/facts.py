"""What a session's TLS handshake tells: for events (escaped text) and for detectors.

:class:`Handshake` is what signature rules match (``tls.sni``, ``ja3.hash``,
``ja3.string``, ``ja4.hash``, ``tls.version``); :meth:`Handshake.event` is the
``tls`` object of ``session_start`` and ``starttls`` events.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..record.escape import escape_bytes
from .fingerprint import fingerprints
from .hello import ClientHello

_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def hello_facts(hello: ClientHello | None) -> dict[str, Any]:
    """What the ClientHello tells, as event fields (the SNI escaped: attacker bytes)."""
    if hello is None:
        return {"sni": None, "ja3": None, "ja3_hash": None, "ja4": None}
    fp = fingerprints(hello)
    return {"sni": None if hello.sni is None else escape_bytes(hello.sni),
            "ja3": fp.ja3, "ja3_hash": fp.ja3_hash, "ja4": fp.ja4}


@dataclass(frozen=True, slots=True)
class Handshake:
    version: int  # negotiated, e.g. 0x0304
    version_name: str  # "TLSv1.3"
    cipher: str | None
    alpn: str | None
    sni: bytes | None  # as sent
    ja3: str
    ja3_hash: str
    ja4: str

    @classmethod
    def of(cls, hello: ClientHello, version: str | None, cipher: str | None, alpn: str | None) -> Handshake:
        fp = fingerprints(hello)
        return cls(_VERSIONS.get(version or "", 0), version or "", cipher, alpn, hello.sni, fp.ja3,
                   fp.ja3_hash, fp.ja4)

    def event(self) -> dict[str, Any]:
        return {"version": self.version_name, "cipher": self.cipher, "alpn": self.alpn,
                "sni": None if self.sni is None else escape_bytes(self.sni),
                "ja3": self.ja3, "ja3_hash": self.ja3_hash, "ja4": self.ja4}
