"""Split a session's byte stream into client requests (sans-IO).

A *request* is "the client bytes between two server replies": client data accumulates
until the server sends something, and that reply closes the request.  This needs no
protocol knowledge and fits request/response protocols (HTTP/1.x, Redis, SMTP, FTP,
POP3, IMAP, SQL wire protocols).  Pipelined commands sent before one reply become one
request; bytes the client sends while the server is still talking start the next one.

Bounded: a request keeps its first ``cap`` bytes; later bytes are only counted in
``Request.length``.  The anomaly model scores the same first ``cap`` bytes (its
``Shape.cap``), so training and inline scoring see identical units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["client", "server"]
DEFAULT_CAP = 16384


@dataclass(frozen=True, slots=True)
class Request:
    data: bytes  # the first ``cap`` bytes
    length: int  # every byte of the request, including those past the cap

    @property
    def truncated(self) -> bool:
        return self.length > len(self.data)


class RequestSplitter:
    """Feed both directions of one session in order; get finished client requests."""

    __slots__ = ("cap", "_buf", "_length")

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap = cap
        self._buf = bytearray()
        self._length = 0

    def feed(self, direction: Direction, data: bytes) -> list[Request]:
        """Bytes from ``direction``; returns the request a server reply closes, if any."""
        if direction == "client":
            self._add(data)
            return []
        if direction != "server":
            raise ValueError(f"direction must be 'client' or 'server', not {direction!r}")
        return self._finish() if data else []

    def end(self) -> list[Request]:
        """The stream ended: client bytes still pending form a last request."""
        return self._finish()

    @property
    def pending_length(self) -> int:
        return self._length

    def _add(self, data: bytes) -> None:
        room = self.cap - len(self._buf)
        if room > 0:
            self._buf += data[:room]
        self._length += len(data)

    def _finish(self) -> list[Request]:
        if not self._length:
            return []
        req = Request(bytes(self._buf), self._length)
        self._buf = bytearray()
        self._length = 0
        return [req]


def split_stream(events: list[tuple[Direction, bytes]], cap: int = DEFAULT_CAP) -> list[Request]:
    """All requests of a whole recorded session."""
    splitter = RequestSplitter(cap)
    out: list[Request] = []
    for direction, data in events:
        out.extend(splitter.feed(direction, data))
    out.extend(splitter.end())
    return out
