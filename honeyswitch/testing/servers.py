"""Small real servers for tests and the demo: echo, line services, stalls.

Each :class:`TestServer` listens on loopback and keeps a :class:`ConnRecord` per
connection: every byte received, whether it saw EOF or a reset (ECONNRESET).  Tests use
them as main and honeypot backends and then check what each one saw.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Handler = Callable[["ConnRecord", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
READ_SIZE = 256 << 10


@dataclass
class ConnRecord:
    peer: tuple[str, int]
    received: bytearray = field(default_factory=bytearray)
    eof: bool = False
    reset: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def sha256(self) -> str:
        return hashlib.sha256(self.received).hexdigest()


class TestServer:
    """A loopback server running ``handler`` for every connection."""

    __test__ = False  # not a pytest test class

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.conns: list[ConnRecord] = []
        self.server: asyncio.Server | None = None
        self.connected = asyncio.Event()

    async def start(self, port: int = 0) -> TestServer:
        self.server = await asyncio.start_server(self._serve, self.host, port, limit=1 << 20)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rec = ConnRecord(writer.get_extra_info("peername")[:2])
        self.conns.append(rec)
        self.connected.set()
        try:
            await self.handler(rec, reader, writer)
        except ConnectionResetError:
            rec.reset = True
        except (BrokenPipeError, ConnectionError):
            rec.reset = True
        except asyncio.CancelledError:
            pass  # the server is closing
        finally:
            rec.done.set()
            writer.close()

    async def wait_conns(self, n: int, timeout: float = 5.0) -> None:
        async def _wait() -> None:
            while len(self.conns) < n:
                await asyncio.sleep(0.005)
        await asyncio.wait_for(_wait(), timeout)


async def read_all(rec: ConnRecord, reader: asyncio.StreamReader) -> None:
    """Read until EOF or reset, recording everything."""
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            rec.eof = True
            return
        rec.received += data


def echo(prefix: bytes = b"") -> Handler:
    """Echo every chunk back (optionally prefixed, to tell two servers apart)."""

    async def handler(rec: ConnRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(READ_SIZE)
            if not data:
                rec.eof = True
                with contextlib.suppress(OSError):  # the peer may be gone already: it is done too
                    writer.write_eof()
                    await writer.drain()
                return
            rec.received += data
            writer.write(prefix + data if prefix else data)
            await writer.drain()

    return handler


def lines(reply: Callable[[bytes], bytes], greeting: bytes = b"", delay: float = 0.0) -> Handler:
    """A line protocol: ``reply(line)`` answers each line, after ``delay`` seconds."""

    async def handler(rec: ConnRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if greeting:
            writer.write(greeting)
        while True:
            line = await reader.readline()
            if not line:
                rec.eof = True
                writer.write_eof()
                return
            rec.received += line
            if delay:
                await asyncio.sleep(delay)
            writer.write(reply(line))
            await writer.drain()

    return handler


def sink() -> Handler:
    """Read everything, never reply."""

    async def handler(rec: ConnRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_all(rec, reader)

    return handler


def stall() -> Handler:
    """Accept, then never read: the sender's buffers fill up."""

    async def handler(rec: ConnRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    return handler


def crash_after(n: int) -> Handler:
    """Read ``n`` bytes, then reset the connection (a crashing honeypot)."""

    async def handler(rec: ConnRecord, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while len(rec.received) < n:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            rec.received += data
        from ..relay.sockets import reset

        reset(writer.transport)

    return handler


def pattern(n: int, seed: int = 0) -> bytes:
    """``n`` deterministic pseudo-random bytes (cheap to make, hard to confuse)."""
    out = bytearray()
    block = hashlib.sha256(seed.to_bytes(8, "big")).digest()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(block + counter.to_bytes(8, "big")).digest() * 64
        counter += 1
    return bytes(out[:n])
