"""A small, bounded, incremental HTTP/1.x *request* parser for the sticky buffers.

Fed the client's bytes in whatever chunks they arrive, it reports three moments of each
request: the request line is complete (``LEVEL_LINE``), the headers are complete
(``LEVEL_HEADERS``), the body is complete or its inspection limit reached
(``LEVEL_BODY``).  It handles pipelining, requests split anywhere, obs-folded headers,
``Content-Length`` and chunked bodies.  Everything is bounded: an over-long request line
is reported truncated and the rest of it skipped; headers past the limit are dropped;
only the first ``max_body`` body bytes are kept.  A stream that stops looking like HTTP,
or becomes a tunnel (CONNECT, Upgrade), is no longer parsed.

The buffers follow Suricata's definitions (see ``http-keywords.rst``), with one
documented difference: ``http.uri`` is percent-decoded but dot segments are *not*
removed, so ``../`` stays visible to rules.
"""
from __future__ import annotations

import re

from .buffers import LEVEL_BODY, LEVEL_HEADERS, LEVEL_LINE
from .http_request import HttpRequest, normalize_uri

__all__ = ["HttpRequest", "HttpRequestParser", "looks_like_http", "normalize_uri"]

METHODS = frozenset({b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH",
                     b"CONNECT", b"TRACE", b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY",
                     b"MOVE", b"LOCK", b"UNLOCK", b"SEARCH", b"REPORT", b"DEBUG"})
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$")
_TOKEN_PREFIX = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]*$")
MAX_HEADERS = 256
MAX_BLANK_LINES = 16
MAX_CHUNK_LINE = 1024


def looks_like_http(data: bytes) -> bool:
    """Does a client stream start like an HTTP/1.x request?"""
    method, sep, _ = data[:16].partition(b" ")
    return bool(sep) and method in METHODS


class HttpRequestParser:
    """Incremental request parser; :meth:`feed` yields ``(level, request)`` events."""

    def __init__(self, max_line: int = 8 << 10, max_headers: int = 32 << 10,
                 max_body: int = 32 << 10) -> None:
        self.max_line, self.max_headers, self.max_body = max_line, max_headers, max_body
        self.state = "line"  # line | headers | body | chunk_size | chunk_data | chunk_end | trailers | dead
        self.request: HttpRequest | None = None
        self._line = bytearray()
        self._line_over = False  # current line exceeded the limit; skipping to LF
        self._remaining = 0
        self._blank = 0
        self._body_reported = False

    @property
    def active(self) -> bool:
        return self.state != "dead"

    def feed(self, data: bytes) -> list[tuple[int, HttpRequest]]:
        events: list[tuple[int, HttpRequest]] = []
        pos, n = 0, len(data)
        while pos < n and self.state != "dead":
            if self.state in ("body", "chunk_data"):
                pos = self._body_bytes(data, pos, events)
            else:
                pos = self._line_bytes(data, pos, events)
        return events

    # ----------------------------------------------------------------- lines
    def _line_bytes(self, data: bytes, pos: int, events: list[tuple[int, HttpRequest]]) -> int:
        if not self._line and not self._line_over:
            pos = self._whole_lines(data, pos, events)
            if pos >= len(data) or self.state in ("body", "chunk_data", "dead"):
                return pos
        limit = MAX_CHUNK_LINE if self.state.startswith("chunk") else self.max_line
        lf = data.find(b"\n", pos)
        end = len(data) if lf < 0 else lf
        if not self._line_over:
            room = limit - len(self._line)
            self._line += data[pos : min(end, pos + room)]
            if end - pos > room:
                self._line_over = True
                self._overflow(events)
        if lf < 0:
            if self.state == "line" and _bad_start(self._line):
                self.state = "dead"
            return len(data)
        line = bytes(self._line).rstrip(b"\r")
        over = self._line_over
        self._line.clear()
        self._line_over = False
        if not over or self.state != "line_skip":
            self._on_line(line, over, events)
        else:
            self.state = "headers"
        return lf + 1

    def _whole_lines(self, data: bytes, pos: int, events: list[tuple[int, HttpRequest]]) -> int:
        """Fast path: lines complete within ``data``, without copying into ``_line``."""
        while True:
            limit = MAX_CHUNK_LINE if self.state.startswith("chunk") else self.max_line
            lf = data.find(b"\n", pos, pos + limit + 1)
            if lf < 0:
                return pos
            self._on_line(data[pos:lf].rstrip(b"\r"), False, events)
            pos = lf + 1
            if pos >= len(data) or self.state in ("body", "chunk_data", "dead"):
                return pos

    def _overflow(self, events: list[tuple[int, HttpRequest]]) -> None:
        if self.state == "line":
            # report the truncated request line now: long URIs are what attacks look like
            self._start_request(bytes(self._line), True, events)
            if self.state == "headers":
                self.state = "line_skip"
        elif self.state != "headers":
            self.state = "dead"

    def _on_line(self, line: bytes, over: bool, events: list[tuple[int, HttpRequest]]) -> None:
        state = self.state
        if state == "line":
            self._start_request(line, over, events)
        elif state == "headers":
            self._header_line(line, events)
        elif state == "chunk_size":
            self._chunk_size(line)
        elif state == "chunk_end":
            self.state = "chunk_size" if not line else "dead"
        elif state == "trailers" and not line:
            self._finish_body(events)

    def _start_request(self, line: bytes, truncated: bool, events: list[tuple[int, HttpRequest]]) -> None:
        if not line:
            self._blank += 1
            if self._blank > MAX_BLANK_LINES:
                self.state = "dead"
            return
        method = line.split(b" ", 1)[0]
        if not _TOKEN.match(method):
            self.state = "dead"
            return
        self._blank = 0
        self.request = req = HttpRequest(line, truncated)
        self._body_reported = False
        events.append((LEVEL_LINE, req))
        if req.protocol is None and not truncated:  # HTTP/0.9: no headers, no body
            req.headers_done = True
            events.append((LEVEL_HEADERS, req))
            self._finish_body(events)
        else:
            self.state = "headers"

    def _header_line(self, line: bytes, events: list[tuple[int, HttpRequest]]) -> None:
        req = self.request
        assert req is not None
        if not line:
            req.headers_done = True
            if len(req.header_raw) + 2 <= self.max_headers:
                req.header_raw += b"\r\n"
            events.append((LEVEL_HEADERS, req))
            self._start_body(req, events)
            return
        if len(req.header_raw) + len(line) + 2 > self.max_headers or len(req.headers) >= MAX_HEADERS:
            return
        req.header_raw += line + b"\r\n"
        if line[:1] in (b" ", b"\t") and req.headers:
            name, value = req.headers[-1]
            req.headers[-1] = (name, (value + b" " + line.strip()).strip())
            return
        name, sep, value = line.partition(b":")
        if sep and name.strip():
            req.headers.append((name.strip(), value.strip()))

    # ------------------------------------------------------------------ body
    def _start_body(self, req: HttpRequest, events: list[tuple[int, HttpRequest]]) -> None:
        if req.method.upper() == b"CONNECT" or req.header(b"upgrade") is not None:
            self._finish_body(events)
            self.state = "dead"  # a tunnel follows: no more HTTP to parse
            return
        te = (req.header(b"transfer-encoding") or b"").lower()
        if b"chunked" in te:
            self.state = "chunk_size"
            return
        length = _content_length(req.header(b"content-length"))
        if length > 0:
            self._remaining = length
            self.state = "body"
        else:
            self._finish_body(events)

    def _chunk_size(self, line: bytes) -> None:
        text = line.split(b";", 1)[0].strip()
        if not text or len(text) > 16 or not re.fullmatch(rb"[0-9A-Fa-f]+", text):
            self.state = "dead"
            return
        size = int(text, 16)
        self._remaining = size
        self.state = "chunk_data" if size else "trailers"

    def _body_bytes(self, data: bytes, pos: int, events: list[tuple[int, HttpRequest]]) -> int:
        req = self.request
        assert req is not None
        take = min(self._remaining, len(data) - pos)
        room = self.max_body - len(req.body)
        if room > 0:
            req.body += data[pos : pos + min(take, room)]
        self._remaining -= take
        if len(req.body) >= self.max_body and not self._body_reported:
            self._body_reported = True
            events.append((LEVEL_BODY, req))
        if self._remaining == 0:
            if self.state == "chunk_data":
                self.state = "chunk_end"
            else:
                self._finish_body(events)
        return pos + take

    def _finish_body(self, events: list[tuple[int, HttpRequest]]) -> None:
        if self.request is not None and not self._body_reported:
            events.append((LEVEL_BODY, self.request))
        self._body_reported = True
        self.state = "line"


def _bad_start(line: bytearray) -> bool:
    """An unfinished request line that already cannot be HTTP (e.g. a TLS hello)."""
    head = bytes(line[:40]).lstrip(b"\r\n")
    method = head.split(b" ", 1)[0]
    return bool(method) and (len(method) > 32 or not _TOKEN_PREFIX.match(method))


def _content_length(value: bytes | None) -> int:
    if not value:
        return 0
    text = value.split(b",")[0].strip()
    return int(text) if text.isdigit() and len(text) <= 15 else 0
