"""Building ClientHello records byte by byte, for tests of the TLS parser and relay.

Real clients' hellos are captured live in the tests; this builds the ones no client
sends (GREASE everywhere, odd ALPN values, control bytes in the SNI, broken lengths).
"""
from __future__ import annotations

import os
import struct
from collections.abc import Sequence


def u16s(values: Sequence[int]) -> bytes:
    return struct.pack(f"!{len(values)}H", *values)


def vec(data: bytes, length_bytes: int = 2) -> bytes:
    return (struct.pack("!B", len(data)) if length_bytes == 1 else struct.pack("!H", len(data))) + data


def ext_sni(name: bytes) -> tuple[int, bytes]:
    return 0x0000, vec(b"\x00" + vec(name))


def ext_alpn(protocols: Sequence[bytes]) -> tuple[int, bytes]:
    return 0x0010, vec(b"".join(vec(p, 1) for p in protocols))


def ext_groups(groups: Sequence[int]) -> tuple[int, bytes]:
    return 0x000A, vec(u16s(groups))


def ext_point_formats(formats: Sequence[int]) -> tuple[int, bytes]:
    return 0x000B, vec(bytes(formats), 1)


def ext_sigalgs(algs: Sequence[int]) -> tuple[int, bytes]:
    return 0x000D, vec(u16s(algs))


def ext_versions(versions: Sequence[int]) -> tuple[int, bytes]:
    return 0x002B, vec(u16s(versions), 1)


def hello_body(ciphers: Sequence[int], extensions: Sequence[tuple[int, bytes]], *,
               version: int = 0x0303, session_id: bytes = b"", random: bytes | None = None) -> bytes:
    exts = b"".join(struct.pack("!H", kind) + vec(data) for kind, data in extensions)
    return (struct.pack("!H", version) + (random or os.urandom(32)) + vec(session_id, 1)
            + vec(u16s(ciphers)) + vec(b"\x00", 1) + (vec(exts) if extensions else b""))


def records(body: bytes, *, record_version: int = 0x0301, split: int = 0) -> bytes:
    """The handshake message of ``body`` as TLS records (``split``: fragment size)."""
    message = b"\x01" + len(body).to_bytes(3, "big") + body
    size = split or len(message)
    out = b""
    for i in range(0, len(message), size):
        frag = message[i:i + size]
        out += struct.pack("!BHH", 22, record_version, len(frag)) + frag
    return out


def client_hello(ciphers: Sequence[int], extensions: Sequence[tuple[int, bytes]], **kw: object) -> bytes:
    split = int(kw.pop("split", 0))  # type: ignore[call-overload]
    record_version = int(kw.pop("record_version", 0x0301))  # type: ignore[call-overload]
    return records(hello_body(ciphers, extensions, **kw), record_version=record_version, split=split)  # type: ignore[arg-type]
