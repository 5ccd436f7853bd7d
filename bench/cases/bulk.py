"""Bulk throughput, client -> server (the mirrored direction: every byte also goes to
the honeypot), with iperf3: 1 and 4 parallel streams.

iperf3 works through honeyswitch: the honeypot's iperf3 server gets the same control
and data streams and runs the same test; only main's replies reach the client.
"""
from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from ..targets import Target
from . import ALL_PROXIES, Case, Context, Metric, RunFn
from .measure import cpu_delta, snapshot

OMIT = 1  # seconds of TCP ramp-up left out of iperf3's figure


def _run(streams: int) -> RunFn:
    def run(ctx: Context, target: Target | None) -> dict[str, Any]:
        assert target is not None
        secs = ctx.settings.bulk_seconds
        # An iperf3 server runs one test at a time; the honeypot's may still be closing
        # the previous one (its peer went away first), so give it a moment.
        time.sleep(0.3)
        before = snapshot(ctx, target, "bulk")
        res = subprocess.run(
            ["iperf3", "-c", "127.0.0.1", "-p", str(target.port("bulk")), "-t", str(secs), "-O", str(OMIT),
             "-P", str(streams), "-J"], capture_output=True, text=True, timeout=secs + OMIT + 30)
        cpu = cpu_delta(before, snapshot(ctx, target, "bulk"))
        try:
            data = json.loads(res.stdout)
        except ValueError:
            raise RuntimeError(f"iperf3: {res.stderr.strip() or res.stdout[-300:]}") from None
        if "error" in data:
            raise RuntimeError(f"iperf3: {data['error']}")
        # CPU covers the whole test, ramp-up included: divide by every byte sent.
        total = sum(iv["sum"]["bytes"] for iv in data["intervals"])
        gb = total / 1e9
        return {
            "gbit_s": data["end"]["sum_received"]["bits_per_second"] / 1e9,
            "gbytes": gb,
            "retransmits": data["end"]["sum_sent"].get("retransmits", 0),
            "proxy_cpu_s_per_gb": cpu["proxy_cpu_s"] / gb if target.proxy and gb else None,
            "backend_cpu_s_per_gb": cpu["backend_cpu_s"] / gb if gb else None,
            **cpu,
        }
    return run


METRICS = (
    Metric("gbit_s", "Gbit/s", "{:.2f}", better="higher"),
    Metric("proxy_cpu_s_per_gb", "proxy CPU s/GB", "{:.2f}"),
    Metric("retransmits", "retrans", "{:.0f}"),
    Metric("events.honeypot_fell_behind", "hp dropped", "{:.0f}", agg="sum"),
    Metric("events.alert", "alerts", "{:.0f}", agg="sum"),
)
NOTE = ("'hp dropped' (total over the runs): sessions whose honeypot fell more than honeypot_buffer "
        "behind and was dropped (MIRROR -> MAIN_ONLY): the rest of that run was not mirrored. "
        "'alerts': total over the runs.")
CASES = [
    Case("bulk1", "bulk throughput, 1 stream, client -> server (iperf3)", ("bulk",), ALL_PROXIES,
         _run(1), METRICS, notes=(NOTE,)),
    Case("bulk4", "bulk throughput, 4 streams, client -> server (iperf3 -P 4)", ("bulk",), ALL_PROXIES,
         _run(4), METRICS, notes=(NOTE,)),
]
