"""Memory per idle session: RSS of the proxy process (from /proc) before and after
5,000 connections are opened through it, each after one small exchange.  Every run
uses a newly started proxy, so memory freed by earlier runs cannot hide the cost."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ..procs import REPO, Proc, rss_kib
from ..targets import Target
from . import Case, Context, Metric
from .measure import expect

SETTLE_TIMEOUT = 20.0


def established_to(port: int) -> int:
    """Established TCP connections whose remote port is ``port`` (the proxy's upstreams)."""
    want = f":{port:04X}"
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[2].endswith(want) and parts[3] == "01":
            n += 1
    return n


def _settle(ctx: Context, target: Target, opened: int) -> dict[str, int]:
    """Wait (bounded) until the proxy holds its upstream connections for every session."""
    pair = ctx.pairs["echo"]
    want_main = 0 if target.name == "hs-honeypot" else opened
    want_hp = opened if target.name.startswith("hs-") else 0
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        main, hp = established_to(pair.main.port), established_to(pair.honeypot.port)
        if (main >= want_main and hp >= want_hp) or time.monotonic() > deadline:
            return {"upstreams_main": main, "upstreams_honeypot": hp}
        time.sleep(0.2)


def _drain(ctx: Context, deadline_s: float) -> float:
    """Seconds until the proxy has closed every upstream (bounded): ending 5,000 sessions
    takes honeyswitch a while, and the next case must not start while it does."""
    pair = ctx.pairs["echo"]
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if established_to(pair.main.port) + established_to(pair.honeypot.port) == 0:
            break
        time.sleep(0.1)
    return time.monotonic() - start


def run(ctx: Context, target: Target | None) -> dict[str, Any]:
    assert target is not None
    pids = target.pids()  # a supervisor's workers too
    time.sleep(0.5)  # let the new process finish starting up
    before = sum(rss_kib(pid) for pid in pids)
    n = ctx.settings.rss_sessions
    proc = Proc("idle", [sys.executable, "-m", "bench.tools.idle", "--port", str(target.port("echo")),
                         "--count", str(n), "--hold", "300"],
                ctx.work / f"idle-{target.name}.log", pipe=True, stdin=True, cwd=REPO)
    try:
        opened = json.loads(expect(proc, "{", 120))
        ups = _settle(ctx, target, opened["opened"])
        time.sleep(0.5)
        after = sum(rss_kib(pid) for pid in pids)
        proc.send("close\n")
        expect(proc, '{"closed"', 30)
        proc.wait(10)
        teardown = _drain(ctx, 60.0)
    finally:
        proc.stop()
    count = max(1, opened["opened"])
    return {
        "kib_per_session": (after - before) / count, "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024, "sessions": opened["opened"], "failed": opened["failed"],
        "open_seconds": opened["seconds"], "teardown_seconds": teardown, **ups,
    }


CASE = Case(
    "rss", "RSS per idle session (5,000 by default; one 5-byte exchange each, then idle)", ("echo",),
    ("haproxy", "hs-mirror", "hs-workers", "hs-detect", "hs-honeypot"), run,
    (Metric("kib_per_session", "KiB/session", "{:.1f}", better="lower"),
     Metric("rss_before_mib", "RSS before MiB", "{:.1f}"),
     Metric("rss_after_mib", "RSS after MiB", "{:.1f}"),
     Metric("sessions", "sessions", "{:.0f}"),
     Metric("open_seconds", "open s", "{:.1f}"),
     Metric("teardown_seconds", "close s", "{:.1f}"),
     Metric("upstreams_honeypot", "hp upstreams", "{:.0f}")),
    fresh=True,
    notes=("Target: <= 20 KB per idle mirrored session. HAProxy holds one upstream, "
           "honeyswitch MIRROR two (main and honeypot), DIRECT one.",),
)
