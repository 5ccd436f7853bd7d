"""A minimal keep-alive HTTP/1.1 client for tests, bound to a chosen source address.

End-to-end tests need many concurrent benign sessions whose source addresses differ
from the attacker's (a switch blacklists the attacker's address, and every loopback
address in 127.0.0.0/8 is usable on Linux).  One :class:`HttpConnection` is one TCP
connection, so one honeyswitch session, reused for every request until closed.
"""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from ..relay.proxyproto import v2_header

MAX_HEAD = 64 << 10


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


class HttpConnection:
    """One keep-alive connection; requests are sent one at a time (no pipelining)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.requests = 0

    @classmethod
    async def open(cls, host: str, port: int, source: str | None = None, timeout: float = 10.0,
                   proxy_v2: bool = False) -> HttpConnection:
        """Connect (from ``source``, any port); ``proxy_v2`` starts with a PROXY v2
        header naming this connection, for a server that expects one."""
        local = (source, 0) if source else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=local, limit=MAX_HEAD), timeout)
        if proxy_v2:
            writer.write(v2_header(writer.get_extra_info("sockname")[:2], writer.get_extra_info("peername")[:2]))
        return cls(reader, writer, f"{host}:{port}")

    @property
    def sockname(self) -> tuple[str, int]:
        name = self.writer.get_extra_info("sockname")
        return name[0], name[1]

    async def request(self, method: str, target: str, headers: dict[str, str] | None = None,
                      body: bytes = b"", timeout: float = 10.0) -> Response:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.requests += 1
        return await asyncio.wait_for(self._response(method == "HEAD"), timeout)

    async def get(self, target: str, **kw: object) -> Response:
        return await self.request("GET", target, **kw)  # type: ignore[arg-type]

    async def _response(self, head_only: bool) -> Response:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head_only else int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        return Response(status, headers, body)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
