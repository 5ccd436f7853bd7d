"""Echo server: replies each chunk back, optionally with a prefix.

``--mark H:`` makes it line-framed (a lagging honeypot may read two requests in one
chunk) and replaces the prefix for lines that start with ``?``: main and honeypot then
answer every ordinary request identically (so honeyswitch sees no divergence and keeps
``bytes`` alignment), while a ``?`` probe tells the client who answered.  With
``--report-resets`` it prints one JSON line per connection reset by its peer, stamped
with CLOCK_MONOTONIC (comparable across processes), so the bench can time "main sees
the RST" after a switch.

    python -m bench.tools.echo --port 9000 [--prefix M:] [--mark H:] [--report-resets]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time

from .loop import run


class Echo(asyncio.Protocol):
    def __init__(self, prefix: bytes, mark: bytes, report: bool) -> None:
        self.prefix = prefix
        self.mark = mark
        self.report = report
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.mark:
            self.transport.write(self.prefix + data if self.prefix else data)
            return
        *lines, self.pending = (self.pending + data).split(b"\n")
        if len(self.pending) > 65536:  # bounded: a client that never ends its line
            self.transport.abort()
            return
        out = [(self.mark if line[:1] == b"?" else self.prefix) + line + b"\n" for line in lines]
        if out:
            self.transport.write(b"".join(out))

    def eof_received(self) -> bool:
        return False  # close: the peer is done

    def connection_lost(self, exc: Exception | None) -> None:
        if self.report and isinstance(exc, ConnectionResetError):
            print(json.dumps({"reset_ns": time.monotonic_ns()}), flush=True)


async def serve(port: int, prefix: bytes, mark: bytes, report: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Echo(prefix, mark, report), "127.0.0.1", port,
                                      backlog=8192, reuse_address=True)
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--mark", default="", help="line-framed; prefix for lines that start with '?'")
    ap.add_argument("--report-resets", action="store_true")
    args = ap.parse_args()
    try:
        run(serve(args.port, args.prefix.encode(), args.mark.encode(), args.report_resets))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
