"""JA3 and JA4 fingerprints of a ClientHello.

- JA3 (Salesforce, 2017): ``SSLVersion,Ciphers,Extensions,EllipticCurves,
  EllipticCurvePointFormats``, decimal values joined by ``-``, GREASE left out, and the
  MD5 of that string.  Extension order matters, so browsers that shuffle their
  extensions (Chrome since 110) get a new JA3 per connection.
- JA4 (FoxIO, ``technical_details/JA4.md``): ``a_b_c`` where *a* is protocol, version,
  SNI or not, cipher and extension counts and the first ALPN value's first and last
  characters; *b* the truncated SHA-256 of the sorted ciphers; *c* that of the sorted
  extensions (less SNI and ALPN) followed by the signature algorithms as sent.
  Sorting makes JA4 stable across extension shuffling.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .hello import EXT_ALPN, EXT_SERVER_NAME, ClientHello, is_grease

_JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                 0x0200: "s2", 0x0100: "s1", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
_EMPTY = "000000000000"


def _plain(values: tuple[int, ...]) -> list[int]:
    return [v for v in values if not is_grease(v)]


def ja3_string(hello: ClientHello) -> str:
    parts = [
        str(hello.version),
        "-".join(map(str, _plain(hello.ciphers))),
        "-".join(map(str, _plain(hello.extensions))),
        "-".join(map(str, _plain(hello.groups))),
        "-".join(map(str, hello.point_formats)),
    ]
    return ",".join(parts)


def ja3_hash(hello: ClientHello) -> str:
    return hashlib.md5(ja3_string(hello).encode(), usedforsecurity=False).hexdigest()


def _alpn_chars(hello: ClientHello) -> str:
    if not hello.alpn or not hello.alpn[0]:
        return "00"
    first = hello.alpn[0]
    a, z = chr(first[0]), chr(first[-1])
    if a.isascii() and a.isalnum() and z.isascii() and z.isalnum():
        return a + z
    text = first.hex()  # a value with other bytes: its hex form's first and last digit
    return text[0] + text[-1]


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ja4_parts(hello: ClientHello, proto: str = "t") -> tuple[str, str, str]:
    """The raw JA4 (``JA4_r``) parts: the prefix, the sorted cipher list and the sorted
    extension list with the signature algorithms (``_``-joined)."""
    ciphers = _plain(hello.ciphers)
    extensions = _plain(hello.extensions)
    version = _JA4_VERSIONS.get(hello.max_version, "00")
    sni = "d" if EXT_SERVER_NAME in extensions else "i"
    prefix = f"{proto}{version}{sni}{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{_alpn_chars(hello)}"
    cipher_list = ",".join(f"{c:04x}" for c in sorted(ciphers))
    ext_list = ",".join(f"{e:04x}" for e in sorted(extensions) if e not in (EXT_SERVER_NAME, EXT_ALPN))
    sigs = ",".join(f"{s:04x}" for s in _plain(hello.signature_algorithms))
    return prefix, cipher_list, f"{ext_list}_{sigs}" if sigs else ext_list


def ja4(hello: ClientHello, proto: str = "t") -> str:
    prefix, ciphers, exts = ja4_parts(hello, proto)
    ext_list = exts.split("_", 1)[0]
    return "_".join((prefix, _hash12(ciphers) if ciphers else _EMPTY, _hash12(exts) if ext_list else _EMPTY))


def ja4_raw(hello: ClientHello, proto: str = "t") -> str:
    return "_".join(ja4_parts(hello, proto))


@dataclass(frozen=True, slots=True)
class Fingerprints:
    ja3: str  # the JA3 string
    ja3_hash: str
    ja4: str
    ja4_r: str


def fingerprints(hello: ClientHello) -> Fingerprints:
    return Fingerprints(ja3_string(hello), ja3_hash(hello), ja4(hello), ja4_raw(hello))
