"""TLS cases, HAProxy and honeyswitch terminating TLS with the same certificates
(:mod:`bench.targets.tls`), in the same run:

- new TLS handshakes/s, ECDSA P-256 and RSA-2048: ``openssl s_time -new -www /`` (a
  full handshake, a GET to nginx through the proxy, close), two clients at once;
- bulk through one TLS session: ``bench.tools.tlsbulk`` writes as fast as it can to the
  echo backend and reads the echo back (Gbit/s of payload each way);
- added latency: ``bench.tools.pingpong --tls``, 64-byte requests on one connection,
  against direct plaintext (so "added" includes the TLS work, for both proxies alike).
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from ..procs import REPO, Proc
from ..targets import Target
from ..tls_handshake import s_time
from . import Case, Context, Metric
from .measure import cpu_delta, expect, snapshot

TLS_TARGETS = ("tls-haproxy", "tls-hs")
CLIENTS = 2


def _handshakes(key: str) -> Any:
    def run(ctx: Context, target: Target | None) -> dict[str, Any]:
        assert target is not None
        secs = max(1, ctx.settings.connrate_seconds)
        before = snapshot(ctx, target, "http")
        total = s_time(target.port(f"http-{key}"), secs, CLIENTS, www="/")
        cpu = cpu_delta(before, snapshot(ctx, target, "http"))
        if total == 0:
            raise RuntimeError("openssl s_time made no connection")
        return {"handshakes_per_s": total / secs, "handshakes": total,
                "proxy_cpu_us_per_handshake": cpu["proxy_cpu_s"] / total * 1e6, **cpu}
    return run


def _bulk(ctx: Context, target: Target | None) -> dict[str, Any]:
    assert target is not None
    secs = max(1, ctx.settings.bulk_seconds)
    before = snapshot(ctx, target, "echo")
    res = subprocess.run([sys.executable, "-m", "bench.tools.tlsbulk", "--port", str(target.port("echo")),
                          "--seconds", str(secs)], capture_output=True, text=True, timeout=secs + 60, cwd=REPO)
    cpu = cpu_delta(before, snapshot(ctx, target, "echo"))
    if res.returncode != 0:
        raise RuntimeError(f"tlsbulk: {res.stderr.strip()[-300:]}")
    result = json.loads(res.stdout.strip().splitlines()[-1])
    gb = max(1e-9, result["bytes"] / 1e9)
    return {**result, "proxy_cpu_s_per_gb": cpu["proxy_cpu_s"] / gb, **cpu}


def _pingpong(ctx: Context, target: Target | None) -> dict[str, Any]:
    assert target is not None
    s = ctx.settings
    argv = [sys.executable, "-m", "bench.tools.pingpong", "--port", str(target.port("echo")), "--conns", "1",
            "--seconds", str(s.pingpong_seconds), "--warmup", str(s.pingpong_warmup)]
    if target.name.startswith("tls-"):
        argv.append("--tls")
    proc = Proc(f"tls-pingpong-{target.name}", argv, ctx.work / f"tls-pingpong-{target.name}.log", pipe=True, cwd=REPO)
    try:
        expect(proc, "window-start", s.pingpong_warmup + 30)
        expect(proc, "window-end", s.pingpong_seconds + 20)
        result: dict[str, Any] = json.loads(expect(proc, "{", 20))
        proc.wait(10)
    finally:
        proc.stop()
    return result


CASES = [
    Case("tls_handshake_ec", "new TLS handshakes/s, ECDSA P-256 (openssl s_time -new -www /, 2 clients)",
         ("http", "echo"), TLS_TARGETS, _handshakes("ec"),
         (Metric("handshakes_per_s", "handshakes/s", "{:,.0f}", better="higher"),
          Metric("proxy_cpu_us_per_handshake", "proxy CPU µs/handshake", "{:.0f}")),
         notes=("Target: >= 0.6x HAProxy per core (both proxies run one thread here).",), reference="tls-haproxy"),
    Case("tls_handshake_rsa", "new TLS handshakes/s, RSA-2048 (openssl s_time -new -www /, 2 clients)",
         ("http", "echo"), TLS_TARGETS, _handshakes("rsa"),
         (Metric("handshakes_per_s", "handshakes/s", "{:,.0f}", better="higher"),
          Metric("proxy_cpu_us_per_handshake", "proxy CPU µs/handshake", "{:.0f}")), reference="tls-haproxy"),
    Case("tls_bulk", "bulk through one TLS session (echo: payload Gbit/s each way)", ("http", "echo"),
         TLS_TARGETS, _bulk,
         (Metric("gbit_per_s", "Gbit/s", "{:.2f}", better="higher"),
          Metric("proxy_cpu_s_per_gb", "proxy CPU s/GB", "{:.2f}")),
         notes=("Target: >= 0.5x HAProxy with no inline detectors.",), reference="tls-haproxy"),
    Case("tls_pingpong1", "latency through TLS, 64-byte requests, 1 connection (added: over plaintext direct)",
         ("http", "echo"), ("direct", *TLS_TARGETS), _pingpong,
         (Metric("p50_us", "p50 µs", "{:.0f}", added=True), Metric("p99_us", "p99 µs", "{:.0f}", added=True)),
         reference="tls-haproxy"),
]
