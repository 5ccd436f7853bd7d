"""The client's first TLS records, read as a ClientHello (sans-IO, hostile input).

honeyswitch terminates the client's TLS itself (OpenSSL does the handshake), but the
fingerprints (:mod:`honeyswitch.tls.fingerprint`) need the ClientHello exactly as the
client sent it: extension order, GREASE values, everything OpenSSL does not show.  A
:class:`HelloReader` watches the first bytes of a connection, bounded, and yields a
:class:`ClientHello` once the whole handshake message is in, or says why it is not one.
Every length is checked against what is left; nothing here trusts the client.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONTENT_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1
RECORD_MAX = 16384 + 2048  # a TLSPlaintext fragment is at most 2^14; leave room, refuse more
HELLO_MAX = 64 << 10  # the ClientHello message (spread over records) we are willing to read

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B


class HelloError(ValueError):
    """Not a well-formed ClientHello; ``reason`` is stable text for counters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE: 0x0a0a, 0x1a1a, ... 0xfafa (both bytes equal, low nibble 0xa)."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What the client offered, in the order it offered it (GREASE included)."""

    record_version: int
    version: int  # legacy_version of the ClientHello body
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    compression: tuple[int, ...] = (0,)
    session_id_len: int = 0
    sni: bytes | None = None  # the host_name as sent (may hold any bytes)
    alpn: tuple[bytes, ...] = ()
    groups: tuple[int, ...] = ()
    point_formats: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    supported_versions: tuple[int, ...] = ()
    raw_len: int = field(default=0, compare=False)  # bytes of the handshake message

    @property
    def grease(self) -> bool:
        """Whether the client sent GREASE values anywhere (browsers and curl do)."""
        return any(is_grease(v) for seq in (self.ciphers, self.extensions, self.groups,
                                              self.signature_algorithms, self.supported_versions)
                   for v in seq)

    @property
    def max_version(self) -> int:
        """The highest version offered: supported_versions if present, else legacy_version."""
        offered = [v for v in self.supported_versions if not is_grease(v)]
        return max(offered) if offered else self.version


class _Buf:
    """A cursor over bytes whose reads fail with HelloError instead of running past the end."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos, self.end = data, pos, len(data) if end is None else end

    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.left():
            raise HelloError(f"truncated {what}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int(struct.unpack("!H", self.take(2, what))[0])

    def u24(self, what: str) -> int:
        hi, lo = struct.unpack("!BH", self.take(3, what))
        return int(hi << 16 | lo)

    def vector(self, length_bytes: int, what: str) -> _Buf:
        n = self.u8(what) if length_bytes == 1 else self.u16(what)
        start = self.pos
        self.take(n, what)
        return _Buf(self.data, start, start + n)


def _u16_list(b: _Buf, what: str) -> tuple[int, ...]:
    if b.left() % 2:
        raise HelloError(f"odd length {what}")
    return struct.unpack(f"!{b.left() // 2}H", b.take(b.left(), what))


def parse_client_hello(body: bytes, record_version: int = 0) -> ClientHello:
    """Parse a ClientHello handshake message body (after its 4-byte header)."""
    b = _Buf(body)
    version = b.u16("version")
    b.take(32, "random")
    session_id = b.vector(1, "session id")
    if session_id.left() > 32:
        raise HelloError("session id longer than 32 bytes")
    ciphers = _u16_list(b.vector(2, "cipher suites"), "cipher suites")
    if not ciphers:
        raise HelloError("no cipher suites")
    comp = b.vector(1, "compression methods")
    compression = tuple(comp.take(comp.left(), "compression methods"))
    fields: dict[str, object] = {}
    extensions: list[int] = []
    if b.left():
        exts = b.vector(2, "extensions")
        seen: set[int] = set()
        while exts.left():
            kind = exts.u16("extension type")
            data = exts.vector(2, "extension data")
            if kind in seen:
                raise HelloError(f"duplicate extension 0x{kind:04x}")  # RFC 8446 4.2
            seen.add(kind)
            extensions.append(kind)
            _extension(kind, data, fields)
    if b.left():
        raise HelloError("trailing bytes after extensions")
    return ClientHello(
        record_version=record_version, version=version, ciphers=ciphers,
        extensions=tuple(extensions), compression=compression,
        session_id_len=session_id.left(), raw_len=len(body) + 4, **fields,  # type: ignore[arg-type]
    )


def _extension(kind: int, data: _Buf, out: dict[str, object]) -> None:
    if kind == EXT_SERVER_NAME and data.left():
        names = data.vector(2, "server name list")
        while names.left():
            name_type = names.u8("server name type")
            name = names.vector(2, "server name")
            if name_type == 0 and "sni" not in out:
                out["sni"] = name.take(name.left(), "server name")
    elif kind == EXT_ALPN:
        protos = data.vector(2, "alpn list")
        values = []
        while protos.left():
            p = protos.vector(1, "alpn protocol")
            values.append(p.take(p.left(), "alpn protocol"))
        out["alpn"] = tuple(values)
    elif kind == EXT_SUPPORTED_GROUPS:
        out["groups"] = _u16_list(data.vector(2, "supported groups"), "supported groups")
    elif kind == EXT_EC_POINT_FORMATS:
        pf = data.vector(1, "point formats")
        out["point_formats"] = tuple(pf.take(pf.left(), "point formats"))
    elif kind == EXT_SIGNATURE_ALGORITHMS:
        out["signature_algorithms"] = _u16_list(data.vector(2, "signature algorithms"), "signature algorithms")
    elif kind == EXT_SUPPORTED_VERSIONS:
        out["supported_versions"] = _u16_list(data.vector(1, "supported versions"), "supported versions")


class HelloReader:
    """Collects the first records of a connection until the ClientHello is whole.

    :meth:`feed` returns the :class:`ClientHello` once complete, None while more bytes
    are needed, and raises :class:`HelloError` when the bytes are not a TLS ClientHello
    (or are one larger than :data:`HELLO_MAX`).  It keeps at most HELLO_MAX plus one
    record header and record of bytes, and nothing once it has its answer.
    """

    def __init__(self, limit: int = HELLO_MAX) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._pos = 0  # start of the next unread record in _buf
        self._message = bytearray()  # handshake bytes from the records so far
        self._record_version = 0
        self.done = False

    def feed(self, data: bytes) -> ClientHello | None:
        if self.done:
            return None
        self._buf += data
        try:
            hello = self._records()
        except HelloError:
            self._finish()
            raise
        if hello is not None:
            self._finish()
        return hello

    def _finish(self) -> None:
        self.done = True
        self._buf = bytearray()
        self._message = bytearray()

    def _records(self) -> ClientHello | None:
        buf = self._buf
        if self._pos == 0 and buf and buf[0] != CONTENT_HANDSHAKE:
            # Known from the first byte: a stalling garbage client is refused at once.
            raise HelloError("SSLv2-format hello" if buf[0] & 0x80 else "not a TLS handshake record")
        while len(buf) - self._pos >= 5:
            ctype, version, length = struct.unpack_from("!BHH", buf, self._pos)
            if ctype != CONTENT_HANDSHAKE:
                raise HelloError("record of another type inside the ClientHello")
            if version >> 8 != 3:
                raise HelloError("record version is not 3.x")
            if length == 0 or length > RECORD_MAX:
                raise HelloError("bad record length")
            if len(buf) - self._pos < 5 + length:
                return None
            if self._pos == 0:
                self._record_version = version
            self._message += buf[self._pos + 5:self._pos + 5 + length]
            self._pos += 5 + length
            hello = self._message_done()
            if hello is not None:
                return hello
        return None

    def _message_done(self) -> ClientHello | None:
        msg = self._message
        if len(msg) < 4:
            return None
        if msg[0] != HANDSHAKE_CLIENT_HELLO:
            raise HelloError("first handshake message is not a ClientHello")
        length = int.from_bytes(msg[1:4], "big")
        if length > self.limit:
            raise HelloError("ClientHello too large")
        if len(msg) < 4 + length:
            return None
        if len(msg) > 4 + length:
            # Further handshake bytes in the same record (not allowed before ServerHello).
            raise HelloError("bytes after the ClientHello in its record")
        return parse_client_hello(bytes(msg[4:4 + length]), self._record_version)


def read_client_hello(data: bytes) -> ClientHello:
    """The ClientHello at the start of ``data`` (whole records); raises HelloError."""
    reader = HelloReader()
    hello = reader.feed(data)
    if hello is None:
        raise HelloError("truncated record")
    return hello
