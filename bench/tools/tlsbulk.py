"""Bulk through one TLS session: write as fast as the peer takes it to an echo server
(through a TLS-terminating proxy) and read the echo back, for ``--seconds``.  Prints one
JSON line: payload bytes echoed and Gbit/s.  No certificate check (a bench).

    python -m bench.tools.tlsbulk --port 9000 --seconds 3
"""
from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time

from .loop import run

CHUNK = b"\x5a" * (256 << 10)


async def bench(args: argparse.Namespace) -> dict[str, float]:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port, ssl=ctx, limit=1 << 22)
    deadline = time.monotonic() + args.seconds
    sent = 0

    async def send() -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            writer.write(CHUNK)
            sent += len(CHUNK)
            await writer.drain()

    async def receive() -> int:
        got = 0
        while got < sent or time.monotonic() < deadline:
            data = await reader.read(1 << 20)
            if not data:
                break
            got += len(data)
        return got

    start = time.monotonic()
    _, got = await asyncio.wait_for(asyncio.gather(send(), receive()), args.seconds + 30)
    elapsed = time.monotonic() - start
    writer.close()
    return {"bytes": got, "seconds": elapsed, "gbit_per_s": got * 8 / elapsed / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    print(json.dumps(run(bench(ap.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
