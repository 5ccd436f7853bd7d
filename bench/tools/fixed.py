"""Fixed-count load for profiling: a known number of operations, not a time window, so
instruction and system-call counts can be divided by it.

``churn``: ``--total`` connections, ``--conns`` at a time; each sends one request,
reads the reply until the server closes, and closes (what wrk does with
``Connection: close``).  ``pingpong``: ``--conns`` connections, each doing ``--rounds``
64-byte request/reply round trips, then closing.

    python -m bench.tools.fixed churn --port 9000 --total 2000 --conns 50
    python -m bench.tools.fixed pingpong --port 9000 --rounds 2000 --conns 50

Prints one JSON line: the operations done, the seconds they took, and errors.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time

from .loop import run

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
TIMEOUT = 30.0  # per operation: a stuck connection fails the run instead of hanging it


async def churn_one(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(REQUEST)
        got = 0
        while chunk := await reader.read(65536):
            got += len(chunk)
        return got
    finally:
        writer.close()


async def churn(port: int, total: int, conns: int) -> tuple[int, int]:
    done = errors = 0
    left = total

    async def worker() -> None:
        nonlocal done, errors, left
        while left > 0:
            left -= 1
            try:
                if await asyncio.wait_for(churn_one(port), TIMEOUT) > 0:
                    done += 1
                else:
                    errors += 1
            except (OSError, TimeoutError):
                errors += 1

    await asyncio.gather(*(worker() for _ in range(conns)))
    return done, errors


async def pingpong_one(port: int, rounds: int, msg: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(rounds):
            writer.write(msg)
            await reader.readexactly(len(msg))
        return rounds
    finally:
        writer.close()


async def pingpong(port: int, rounds: int, conns: int) -> tuple[int, int]:
    msg = bytes((i % 26) + 97 for i in range(64))
    results = await asyncio.gather(
        *(asyncio.wait_for(pingpong_one(port, rounds, msg), TIMEOUT + rounds * 0.05) for _ in range(conns)),
        return_exceptions=True)
    done = sum(r for r in results if isinstance(r, int))
    return done, sum(1 for r in results if not isinstance(r, int))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("churn", "pingpong"))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--total", type=int, default=1000, help="churn: connections in all")
    ap.add_argument("--rounds", type=int, default=1000, help="pingpong: round trips per connection")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.mode == "churn":
        done, errors = run(churn(args.port, args.total, args.conns))
    else:
        done, errors = run(pingpong(args.port, args.rounds, args.conns))
    print(json.dumps({"ops": done, "errors": errors, "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main()
