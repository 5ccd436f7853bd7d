"""``honeyswitch events``: recent events from the store."""
from __future__ import annotations

import argparse
import json

from .common import add_config_arg, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("events", help="print recent events (JSON lines) from the store")
    add_config_arg(p)
    p.add_argument("--session", help="only this session's events")
    p.add_argument("--type", dest="event_type", help="only this event type")
    p.add_argument("-n", "--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON lines (what it prints anyway)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store.db import Store

    cfg = load_config(args)
    store = Store(cfg.store_path)
    try:
        rows = store.events(session_id=args.session, event_type=args.event_type, limit=args.limit)
    finally:
        store.close()
    for row in reversed(rows):
        print(json.dumps(row, default=str))
    return 0
