"""Ping-pong of small requests (64 bytes) on 1 and on 50 concurrent connections: latency
percentiles and round trips per second.  The client (bench.tools.pingpong) and the echo
backends are separate processes; CPU is read at the edges of the measured window."""
from __future__ import annotations

import json
import sys
from typing import Any

from ..procs import REPO, Proc
from ..targets import Target
from . import ALL_PROXIES, Case, Context, Metric, RunFn
from .measure import cpu_delta, expect, snapshot


def _run(conns: int) -> RunFn:
    def run(ctx: Context, target: Target | None) -> dict[str, Any]:
        assert target is not None
        s = ctx.settings
        proc = Proc(f"pingpong{conns}", [
            sys.executable, "-m", "bench.tools.pingpong", "--port", str(target.port("echo")),
            "--conns", str(conns), "--seconds", str(s.pingpong_seconds), "--warmup", str(s.pingpong_warmup),
        ], ctx.work / f"pingpong-{target.name}.log", pipe=True, cwd=REPO)
        try:
            expect(proc, "window-start", s.pingpong_warmup + 20)
            before = snapshot(ctx, target, "echo")
            expect(proc, "window-end", s.pingpong_seconds + 20)
            after = snapshot(ctx, target, "echo")
            result = json.loads(expect(proc, "{", 20))
            proc.wait(10)
        finally:
            proc.stop()
        cpu = cpu_delta(before, after)
        rts = max(1, result["round_trips"])
        result.update(
            proxy_cpu_s=cpu["proxy_cpu_s"], backend_cpu_s=cpu["backend_cpu_s"],
            proxy_cpu_us_per_rt=cpu["proxy_cpu_s"] / rts * 1e6 if target.proxy else None,
            backend_cpu_us_per_rt=cpu["backend_cpu_s"] / rts * 1e6,
            client_cpu_us_per_rt=result["client_cpu_s"] / rts * 1e6,
        )
        return result
    return run


METRICS = (
    Metric("rt_per_s", "round trips/s", "{:,.0f}", better="higher"),
    Metric("p50_us", "p50 µs", "{:.0f}", added=True),
    Metric("p99_us", "p99 µs", "{:.0f}", added=True),
    Metric("proxy_cpu_us_per_rt", "proxy CPU µs/rt", "{:.1f}"),
    Metric("events.alert", "alerts (total)", "{:.0f}", agg="sum"),
)
NOTE = ("'+' columns: latency added over direct (median of runs), and its ratio to HAProxy's "
        "added latency (targets: <= 1.5x at 1 connection, <= 2x at 50).")
CASES = [
    Case("pingpong1", "ping-pong latency, 64-byte requests, 1 connection", ("echo",), ALL_PROXIES,
         _run(1), METRICS, notes=(NOTE, "1-connection latency is dominated by VM wake-ups; "
                                        "compare by the 50-connection case and CPU per round trip.")),
    Case("pingpong50", "ping-pong latency, 64-byte requests, 50 concurrent connections", ("echo",),
         ALL_PROXIES, _run(50), METRICS, notes=(NOTE,)),
]
