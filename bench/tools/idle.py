"""Opens N connections, exchanges one small request on each, then holds them idle until
told (a line on stdin) or until ``--hold`` seconds pass, and closes them.

Prints one JSON line when all are open (``opened``, ``failed``, ``seconds``); the bench
reads the proxy's RSS then.

    python -m bench.tools.idle --port 9000 --count 5000 [--parallel 100] [--hold 300]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from .loop import run

PING = b"ping\n"


async def one(port: int, conns: list[asyncio.StreamWriter], timeout: float) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, TimeoutError):
        return False
    conns.append(writer)
    try:
        writer.write(PING)
        await asyncio.wait_for(reader.read(64), timeout)
    except (OSError, TimeoutError):
        return False
    return True


async def bench(args: argparse.Namespace) -> None:
    conns: list[asyncio.StreamWriter] = []
    start = time.monotonic()
    ok = failed = 0
    for base in range(0, args.count, args.parallel):  # bounded: count / parallel batches
        batch = min(args.parallel, args.count - base)
        results = await asyncio.gather(*(one(args.port, conns, args.timeout) for _ in range(batch)))
        ok += sum(results)
        failed += batch - sum(results)
    print(json.dumps({"opened": ok, "failed": failed, "seconds": time.monotonic() - start}), flush=True)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.hold)
    except TimeoutError:
        pass
    for w in conns:
        w.close()
    print(json.dumps({"closed": len(conns)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--parallel", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--hold", type=float, default=300.0)
    run(bench(ap.parse_args()))


if __name__ == "__main__":
    main()
