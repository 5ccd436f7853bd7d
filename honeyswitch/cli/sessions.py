"""``honeyswitch sessions``: the live sessions, from the control API."""
from __future__ import annotations

import argparse
import time

from ..api.client import ApiClient, ApiError
from .common import add_config_arg, fail, load_config, print_json, shown


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sessions", help="list live sessions")
    add_config_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        sessions = ApiClient.from_config(load_config(args)).op("sessions")["sessions"]
    except ApiError as e:
        return fail(str(e))
    if args.json:
        print_json(sessions)
        return 0
    workers = any("worker" in s for s in sessions)  # [daemon] workers > 1
    print(f"{'SESSION':<14} {'SERVICE':<12} {'CLIENT':<24} {'STATE':<10} {'MODE':<6} {'SCORE':>7} {'AGE':>8}"
          + (f" {'WORKER':>6}" if workers else ""))
    now = time.time()
    for s in sessions:
        client = f"{s['src_ip']}:{s['src_port']}"
        print(f"{s['session_id']:<14} {shown(s['service'], 12):<12} {client:<24} "
              f"{s['state']:<10} {s.get('mode', 'proxy'):<6} {s['score']:>7.1f} {now - s['started']:>7.1f}s"
              + (f" {s.get('worker', ''):>6}" if workers else ""))
    return 0
