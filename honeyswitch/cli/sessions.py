"""``honeyswitch sessions``: the live sessions, from the control API.

With ``[cluster]`` in the config they are every host's (``GET /api/v1/cluster/sessions``),
with a HOST column; ``--local`` lists this host's only."""
from __future__ import annotations

import argparse
import time
from typing import Any

from ..api.client import ApiClient, ApiError
from .common import add_config_arg, fail, load_config, print_json, shown


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sessions", help="list live sessions (every host's with [cluster])")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--local", action="store_true", help="with [cluster]: this host's sessions only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    cluster = cfg.cluster is not None and not args.local
    try:
        api = ApiClient.from_config(cfg)
        answer = api.op("cluster_sessions") if cluster else api.op("sessions")
    except ApiError as e:
        return fail(str(e))
    sessions: list[dict[str, Any]] = answer["sessions"]
    if args.json:
        print_json(answer if cluster else sessions)
        return 0
    workers = any("worker" in s for s in sessions)  # [daemon] workers > 1
    print((f"{'HOST':<16} " if cluster else "")
          + f"{'SESSION':<14} {'SERVICE':<12} {'CLIENT':<24} {'STATE':<10} {'MODE':<6} {'SCORE':>7} {'AGE':>8}"
          + (f" {'WORKER':>6}" if workers else ""))
    now = time.time()
    for s in sessions:
        print(_row(s, now, cluster, workers))
    if cluster:
        for line in _host_notes(answer.get("hosts") or {}):
            print(line)
    return 0


def _row(s: dict[str, Any], now: float, cluster: bool, workers: bool) -> str:
    # Another host's listing came through Redis: every field is escaped and bounded.
    client = shown(f"{s.get('src_ip')}:{s.get('src_port')}", 24)
    score, started = _number(s.get("score"), 0.0), _number(s.get("started"), now)
    return ((f"{shown(s.get('host', ''), 16):<16} " if cluster else "")
            + f"{shown(s.get('session_id', ''), 14):<14} {shown(s.get('service', ''), 12):<12} {client:<24} "
            f"{shown(s.get('state', ''), 10):<10} {shown(s.get('mode', 'proxy'), 6):<6} {score:>7.1f} "
            f"{now - started:>7.1f}s" + (f" {shown(s.get('worker', ''), 6):>6}" if workers else ""))


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _host_notes(hosts: dict[str, Any]) -> list[str]:
    """A line for each host whose listing is not whole and fresh."""
    out = []
    for node, h in sorted(hosts.items()):
        if h.get("stale"):
            out.append(f"# {shown(node, 64)}: last listing {h.get('age', 0):.0f}s old (Redis unreachable)")
        elif not h.get("live"):
            out.append(f"# {shown(node, 64)}: no listing for {h.get('age', 0):.0f}s")
        elif h.get("truncated"):
            out.append(f"# {shown(node, 64)}: {h.get('total')} sessions, the highest scores shown")
    return out
