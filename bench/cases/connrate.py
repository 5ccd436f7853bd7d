"""New connections per second: wrk against nginx with ``Connection: close``, so every
request is connect, request, reply, close (through honeyswitch, two upstream connects)."""
from __future__ import annotations

import re
import subprocess
from typing import Any

from ..targets import Target
from . import ALL_PROXIES, Case, Context, Metric
from .measure import cpu_delta, snapshot

CONNS = 50


def _num(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else 0.0


def run(ctx: Context, target: Target | None) -> dict[str, Any]:
    assert target is not None
    secs = ctx.settings.connrate_seconds
    before = snapshot(ctx, target, "http")
    res = subprocess.run(
        ["wrk", "-t1", f"-c{CONNS}", f"-d{secs}s", "--timeout", "5s", "-H", "Connection: close",
         f"http://127.0.0.1:{target.port('http')}/"], capture_output=True, text=True, timeout=secs + 30)
    cpu = cpu_delta(before, snapshot(ctx, target, "http"))
    out = res.stdout
    if res.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk: {res.stderr.strip() or out[-300:]}")
    requests = _num(r"(\d+) requests in", out)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(map(int, m.groups())) if m else 0
    errors += int(_num(r"Non-2xx or 3xx responses: (\d+)", out))
    per = max(1.0, requests)
    return {
        "conn_per_s": _num(r"Requests/sec:\s+([\d.]+)", out), "requests": requests, "errors": errors,
        "proxy_cpu_us_per_conn": cpu["proxy_cpu_s"] / per * 1e6 if target.proxy else None,
        "backend_cpu_us_per_conn": cpu["backend_cpu_s"] / per * 1e6,
        **cpu,
    }


CASE = Case(
    "connrate", f"new connections/s: wrk -t1 -c{CONNS}, Connection: close, nginx 1 worker",
    ("http",), ALL_PROXIES, run,
    (Metric("conn_per_s", "conn/s", "{:,.0f}", better="higher"),
     Metric("proxy_cpu_us_per_conn", "proxy CPU µs/conn", "{:.0f}"),
     Metric("errors", "errors", "{:.0f}"),
     Metric("events.alert", "alerts (total)", "{:.0f}", agg="sum")),
)
