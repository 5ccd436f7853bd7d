"""Closed-loop ping-pong client: N connections, each sends a small request and waits for
the whole reply before the next one.  Prints ``window-start`` and ``window-end`` when the
measured window opens and closes (the bench reads CPU counters of the other processes
then), then one JSON line: round trips, round trips/s and latency percentiles (µs).

    python -m bench.tools.pingpong --port 9000 --conns 50 --seconds 3 [--warmup 0.5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from array import array

from .loop import run

MAX_SAMPLES = 4_000_000  # latency samples kept (bounded memory: 32 MB)


class Window:
    """The measured interval and what was seen in it, shared by every connection."""

    def __init__(self, start_ns: int, end_ns: int) -> None:
        self.start_ns, self.end_ns = start_ns, end_ns
        self.samples = array("q")
        self.count = 0
        self.done = 0


class PingPong(asyncio.Protocol):
    def __init__(self, msg: bytes, expect: int, window: Window, finished: asyncio.Future[None], conns: int) -> None:
        self.msg, self.expect, self.window = msg, expect, window
        self.finished, self.conns = finished, conns
        self.transport: asyncio.Transport | None = None
        self.got = 0
        self.sent_ns = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if (sock := transport.get_extra_info("socket")) is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self) -> None:
        assert self.transport is not None
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(self.msg)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got < self.expect:
            return
        self.got -= self.expect
        now = time.perf_counter_ns()
        w = self.window
        if self.sent_ns >= w.start_ns and now <= w.end_ns:
            w.count += 1
            if len(w.samples) < MAX_SAMPLES:
                w.samples.append(now - self.sent_ns)
        if now < w.end_ns:
            self.send()
        else:
            self._done()

    def connection_lost(self, exc: Exception | None) -> None:
        self._done()

    def _done(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.window.done += 1
        if self.window.done >= self.conns and not self.finished.done():
            self.finished.set_result(None)


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] / 1000.0


async def bench(args: argparse.Namespace) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    msg = bytes((i % 26) + 97 for i in range(args.size))
    finished: asyncio.Future[None] = loop.create_future()
    protos: list[PingPong] = []
    window = Window(0, 0)
    tls = None
    if args.tls:  # through a TLS-terminating proxy (no certificate check: a bench)
        import ssl

        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    for _ in range(args.conns):
        _, proto = await loop.create_connection(
            lambda: PingPong(msg, args.size + args.reply_extra, window, finished, args.conns),
            "127.0.0.1", args.port, ssl=tls)
        protos.append(proto)
    now = time.perf_counter_ns()
    window.start_ns = now + int(args.warmup * 1e9)
    window.end_ns = window.start_ns + int(args.seconds * 1e9)
    cpu: dict[str, float] = {}

    def mark(name: str) -> None:
        cpu[name] = time.process_time()
        print(f"window-{name}", flush=True)

    loop.call_at(loop.time() + args.warmup, mark, "start")
    loop.call_at(loop.time() + args.warmup + args.seconds, mark, "end")
    for p in protos:
        p.send()
    # Bounded: every connection stops sending at end_ns; the grace covers the last reply.
    await asyncio.wait_for(finished, args.warmup + args.seconds + 10.0)
    lat = sorted(window.samples)
    return {
        "conns": args.conns, "size": args.size, "seconds": args.seconds,
        "round_trips": window.count, "rt_per_s": window.count / args.seconds,
        "p50_us": percentile(lat, 0.50), "p90_us": percentile(lat, 0.90),
        "p99_us": percentile(lat, 0.99), "max_us": lat[-1] / 1000.0 if lat else float("nan"),
        "mean_us": sum(lat) / len(lat) / 1000.0 if lat else float("nan"),
        "client_cpu_s": cpu.get("end", time.process_time()) - cpu.get("start", 0.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--size", type=int, default=64, help="request bytes")
    ap.add_argument("--reply-extra", type=int, default=0, help="reply bytes beyond the request (a prefix)")
    ap.add_argument("--tls", action="store_true", help="speak TLS to the port")
    args = ap.parse_args()
    print(json.dumps(run(bench(args))), flush=True)


if __name__ == "__main__":
    main()
