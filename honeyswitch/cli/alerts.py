"""``honeyswitch alerts``: recent alerts with their scores, from the store."""
from __future__ import annotations

import argparse
import json

from .common import add_config_arg, load_config, shown


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("alerts", help="recent alerts and their scores")
    add_config_arg(p)
    p.add_argument("--session", help="only this session's alerts")
    p.add_argument("--source", metavar="IP", help="only alerts about this source address")
    p.add_argument("-n", "--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store.db import Store

    cfg = load_config(args)
    store = Store(cfg.store_path)
    try:
        rows = store.events(session_id=args.session, event_type="alert", src_ip=args.source, limit=args.limit)
    finally:
        store.close()
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
        return 0
    print(f"{'TIME':<19} {'SOURCE':<22} {'SERVICE':<10} {'SESSION':<13} {'DETECTOR':<12} "
          f"{'SCORE':>6} {'TOTAL':>7}  REASON")
    for a in rows:
        total = a.get("session_score")
        print(f"{str(a.get('timestamp', ''))[:19]:<19} {shown(a.get('src_ip') or '-', 22):<22} "
              f"{shown(a.get('service') or '-', 10):<10} {a.get('session_id') or '-':<13} "
              f"{shown(a.get('detector') or '-', 12):<12} {a.get('score') or 0:>6.1f} "
              f"{(f'{total:.1f}' if isinstance(total, (int, float)) else '-'):>7}  {shown(a.get('reason') or '', 80)}")
    return 0
