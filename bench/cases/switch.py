"""Switch latency, on the ``switch`` service (main and honeypot echo ordinary requests
alike, a ``?`` probe with ``M:`` at main and ``H:`` at the honeypot; main prints the time
it sees the RST, on CLOCK_MONOTONIC like ours):

``switch_api``     POST /api/v1/sessions/{id}/switch -> the client's next request is
                   answered by the honeypot (includes that one round trip), and -> main
                   sees the RST.
``switch_inline``  the client sends a request that hits the bench's own rule -> the first
                   byte of the honeypot's reply at the client (a normal round trip in the
                   same session is shown beside it).
``switch_eve``     an EVE alert line for the session is appended to eve.json -> main
                   sees the RST.
"""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

from .. import detection
from ..targets import Skip, Target
from ..targets.honeyswitch import Honeyswitch
from . import Case, Context, Metric, RunFn
from .measure import percentile

IO_TIMEOUT = 3.0
MAX_TRIES = 50  # requests sent while waiting for the honeypot to answer


def recv_exact(sock: socket.socket, n: int, got: bytes = b"") -> bytes:
    """``n`` bytes; on a timeout the error says what had arrived (a torn reply?)."""
    buf = b""
    for _ in range(n):  # at most n reads of at least one byte
        try:
            chunk = sock.recv(n - len(buf))
        except TimeoutError:
            raise TimeoutError(f"{len(got + buf)} of {len(got) + n} bytes after {IO_TIMEOUT:.0f}s: "
                               f"{(got + buf)[:60]!r}") from None
        if not chunk:
            raise ConnectionError("closed by honeyswitch")
        buf += chunk
        if len(buf) >= n:
            break
    return buf


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def exchange(sock: socket.socket, line: bytes) -> bytes:
    """One request line and its reply (the echo prefixes 2 bytes)."""
    sock.sendall(line + b"\n")
    return recv_exact(sock, len(line) + 3)


def main_reset_ms(ctx: Context, t0: int) -> float | None:
    """Milliseconds from ``t0`` (monotonic ns) to main's next reported RST, if any."""
    main = ctx.pairs["switch"].main.proc
    try:
        line = main.line(IO_TIMEOUT)
    except TimeoutError:
        return None
    return (json.loads(line)["reset_ns"] - t0) / 1e6


def session_id(target: Honeyswitch, local_port: int) -> str:
    for _ in range(100):  # the session may take a loop turn to appear
        _, body = target.api("GET", "/api/v1/sessions")
        for s in body["sessions"]:
            if s["src_port"] == local_port:
                return str(s["session_id"])
        time.sleep(0.005)
    raise RuntimeError(f"no live session from port {local_port}")


def api_sample(ctx: Context, target: Honeyswitch) -> dict[str, float | None]:
    with connect(target.port("switch")) as sock:
        if exchange(sock, b"a") != b"M:a\n":
            raise RuntimeError("main did not answer first")
        sid = session_id(target, sock.getsockname()[1])
        ctx.pairs["switch"].main.proc.drain()
        t0 = time.monotonic_ns()
        status, body = target.api("POST", f"/api/v1/sessions/{sid}/switch", {"reason": "bench"})
        t_api = time.monotonic_ns()
        if status != 200:
            raise RuntimeError(f"switch API: {status} {body}")
        for _ in range(MAX_TRIES):
            if exchange(sock, b"?b").startswith(b"H:"):
                t_hp = time.monotonic_ns()
                break
        else:
            raise RuntimeError(f"no honeypot reply after {MAX_TRIES} requests")
        return {"api_ms": (t_api - t0) / 1e6, "total_ms": (t_hp - t0) / 1e6, "rst_ms": main_reset_ms(ctx, t0)}


def inline_sample(ctx: Context, target: Honeyswitch) -> dict[str, float | None]:
    with connect(target.port("switch")) as sock:
        t = time.monotonic_ns()
        if exchange(sock, b"a") != b"M:a\n":
            raise RuntimeError("main did not answer first")
        baseline = (time.monotonic_ns() - t) / 1e6
        ctx.pairs["switch"].main.proc.drain()
        t0 = time.monotonic_ns()
        sock.sendall(detection.PROBE + b"\n")
        first = recv_exact(sock, 1)
        t1 = time.monotonic_ns()
        reply = first + recv_exact(sock, len(detection.PROBE) + 2, got=first)
        if not reply.startswith(b"H:"):
            raise Skip("the rule hit did not switch the session (main answered the probe): "
                       "is the rule loaded and its score >= switch_threshold = 1?")
        return {"hit_ms": (t1 - t0) / 1e6, "baseline_ms": baseline, "rst_ms": main_reset_ms(ctx, t0)}


def eve_sample(ctx: Context, target: Honeyswitch) -> dict[str, float | None]:
    with connect(target.port("switch")) as sock, open(target.eve_path, "a") as eve:
        if exchange(sock, b"a") != b"M:a\n":
            raise RuntimeError("main did not answer first")
        line = detection.eve_alert(sock.getsockname()[1], target.port("switch"))
        ctx.pairs["switch"].main.proc.drain()
        t0 = time.monotonic_ns()
        eve.write(line)
        eve.flush()
        rst = main_reset_ms(ctx, t0)
        if rst is None:
            raise Skip(f"no RST at main {IO_TIMEOUT:.0f}s after the EVE line: the tailer config "
                       f"({target.note}) was accepted but did not switch the session")
        return {"rst_ms": rst}


def _runner(sample: Callable[[Context, Honeyswitch], dict[str, float | None]], keys: tuple[str, ...]) -> RunFn:
    def run(ctx: Context, target: Target | None) -> dict[str, Any]:
        assert isinstance(target, Honeyswitch)
        rows = [sample(ctx, target) for _ in range(ctx.settings.switch_samples)]
        out: dict[str, Any] = {"samples": len(rows)}
        for key in keys:
            values = [v for r in rows if (v := r.get(key)) is not None]
            out[f"{key}_p50"] = percentile(values, 0.5)
            out[f"{key}_p99"] = percentile(values, 0.99)
            out[f"{key}_missing"] = len(rows) - len(values)
        return out
    return run


CASES = [
    Case("switch_api", "switch latency: control API call -> honeypot answers / main sees RST",
         ("switch",), ("hs-mirror", "hs-detect"), _runner(api_sample, ("total_ms", "api_ms", "rst_ms")),
         (Metric("total_ms_p50", "-> hp reply p50 ms", "{:.2f}"), Metric("total_ms_p99", "p99 ms", "{:.2f}"),
          Metric("api_ms_p50", "API call p50 ms", "{:.2f}"), Metric("rst_ms_p50", "-> main RST p50 ms", "{:.2f}"),
          Metric("rst_ms_p99", "p99 ms", "{:.2f}")),
         notes=("'-> hp reply' includes one request/reply through the honeypot after the API call returns.",)),
    Case("switch_inline", "switch latency: inline rule hit -> honeypot's first byte at the client",
         ("switch",), ("hs-detect",), _runner(inline_sample, ("hit_ms", "baseline_ms", "rst_ms")),
         (Metric("hit_ms_p50", "hit -> 1st byte p50 ms", "{:.2f}"), Metric("hit_ms_p99", "p99 ms", "{:.2f}"),
          Metric("baseline_ms_p50", "plain rt p50 ms", "{:.2f}"), Metric("rst_ms_p50", "-> main RST p50 ms", "{:.2f}")),
         notes=("Target: p99 <= 5 ms for an inline hit.",)),
    Case("switch_eve", "switch latency: EVE alert line appended -> main sees the RST",
         ("switch",), ("hs-eve",), _runner(eve_sample, ("rst_ms",)),
         (Metric("rst_ms_p50", "line -> RST p50 ms", "{:.2f}"), Metric("rst_ms_p99", "p99 ms", "{:.2f}")),
         notes=("Target: p99 <= 20 ms from an EVE alert line.",)),
]
