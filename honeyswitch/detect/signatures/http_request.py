"""One parsed HTTP request and the Suricata-style buffers built from it.

Buffers are built on first use and cached; header buffers exist only once the headers
are complete, and a buffer whose header is absent is ``None`` (a rule on it does not
match, even with negated contents, as in Suricata).  ``http.uri`` is percent-decoded
but dot segments are kept (``../`` stays visible to rules).
"""
from __future__ import annotations

import re

_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_HEADER_VALUES = {"http.user_agent": b"user-agent", "http.cookie": b"cookie",
                  "http.host.raw": b"host", "http.accept": b"accept",
                  "http.accept_enc": b"accept-encoding", "http.accept_lang": b"accept-language",
                  "http.referer": b"referer", "http.connection": b"connection",
                  "http.content_type": b"content-type", "http.content_len": b"content-length"}


def normalize_uri(raw: bytes) -> bytes:
    """Strip ``scheme://authority`` from absolute-form, then percent-decode."""
    low = raw[:8].lower()
    if low.startswith(b"http://") or low.startswith(b"https://"):
        rest = raw[raw.index(b"//") + 2 :]
        slash = rest.find(b"/")
        raw = rest[slash:] if slash >= 0 else b"/"
    return _PCT.sub(lambda m: bytes((int(m.group(1), 16),)), raw)


class HttpRequest:
    """One request's parts; buffers are built on first use and cached."""

    def __init__(self, line: bytes, truncated: bool) -> None:
        self.request_line = line
        self.line_truncated = truncated
        parts = line.split()
        self.method = parts[0] if parts else b""
        if len(parts) >= 3 and parts[-1].upper().startswith(b"HTTP/"):
            self.protocol: bytes | None = parts[-1]
            self.uri_raw = b" ".join(parts[1:-1])
        else:
            self.protocol = None
            self.uri_raw = b" ".join(parts[1:])
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_raw = bytearray()
        self.body = bytearray()
        self.headers_done = False
        self.rule_hits: dict[int, set[int]] = {}  # level -> rule ids whose literal was seen
        self._cache: dict[str, bytes | None] = {}
        self._by_name: dict[bytes, bytes] | None = None

    def header(self, name: bytes) -> bytes | None:
        """Values of every header ``name`` (lower-case) joined by ", ", or None."""
        if self._by_name is None or not self.headers_done:
            by_name: dict[bytes, list[bytes]] = {}
            for n, v in self.headers:
                by_name.setdefault(n.lower(), []).append(v)
            if not self.headers_done:
                values = by_name.get(name)
                return b", ".join(values) if values else None
            self._by_name = {k: b", ".join(v) for k, v in by_name.items()}
        return self._by_name.get(name)

    def buffer(self, name: str) -> bytes | None:
        if name not in self._cache:
            self._cache[name] = self._build(name)
        return self._cache[name]

    def _build(self, name: str) -> bytes | None:
        if name == "http.method":
            return self.method
        if name == "http.uri.raw":
            return self.uri_raw
        if name == "http.uri":
            return normalize_uri(self.uri_raw)
        if name == "http.request_line":
            return self.request_line
        if name == "http.protocol":
            return self.protocol
        if name == "http.request_body":
            return bytes(self.body) if self.body else None
        if not self.headers_done:
            return None
        return self._header_buffer(name)

    def _header_buffer(self, name: str) -> bytes | None:
        if name in _HEADER_VALUES:
            return self.header(_HEADER_VALUES[name])
        if name == "http.host":
            return self._host()
        if name == "http.header":
            return b"".join(n + b": " + v + b"\r\n" for n, v in self.headers
                            if n.lower() != b"cookie") or None
        if name == "http.header.raw":
            return bytes(self.header_raw) or None
        if name == "http.header_names":
            return b"\r\n" + b"".join(n + b"\r\n" for n, _ in self.headers) + b"\r\n"
        if name == "http.start":
            lines = b"".join(n + b": " + v + b"\r\n" for n, v in self.headers)
            return self.request_line + b"\r\n" + lines + b"\r\n"
        return None

    def _host(self) -> bytes | None:
        low = self.uri_raw[:8].lower()
        if low.startswith(b"http://") or low.startswith(b"https://"):
            authority = self.uri_raw.split(b"//", 1)[1].split(b"/", 1)[0]
        else:
            authority = self.header(b"host") or b""
            if not authority and self.header(b"host") is None:
                return None
        host = authority.rsplit(b"@", 1)[-1]
        if not host.startswith(b"["):
            host = host.split(b":", 1)[0]
        return host.strip().lower()
