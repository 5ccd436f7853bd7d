"""``honeyswitch events``: recent events from the store, or ``--follow`` the live ones.

``--follow`` prints this host's events as they happen (the control API's live stream);
with ``--cluster``, every host's, as they reach the cluster's Redis stream (each with
its ``host``; ``--since 0`` replays what the stream still holds).  The store and the
event log stay each host's own record."""
from __future__ import annotations

import argparse
import json
import sys

from ..api.client import ApiClient, ApiError
from .common import add_config_arg, fail, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("events", help="print recent events (JSON lines) from the store, or follow them")
    add_config_arg(p)
    p.add_argument("--session", help="only this session's events")
    p.add_argument("--type", dest="event_type", help="only this event type")
    p.add_argument("-n", "--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="JSON lines (what it prints anyway)")
    p.add_argument("-f", "--follow", action="store_true", help="print events as they happen, until interrupted")
    p.add_argument("--cluster", action="store_true", help="with --follow: every host's ([cluster])")
    p.add_argument("--since", default="$", help="with --cluster: a stream id to start after (0: all it holds)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if args.follow:
        return _follow(args, cfg)
    if args.cluster:
        return fail("--cluster goes with --follow (the store holds this host's events only)")
    from ..store.db import Store

    store = Store(cfg.store_path)
    try:
        rows = store.events(session_id=args.session, event_type=args.event_type, limit=args.limit)
    finally:
        store.close()
    for row in reversed(rows):
        print(json.dumps(row, default=str))
    return 0


def _follow(args: argparse.Namespace, cfg) -> int:  # type: ignore[no-untyped-def]
    if args.cluster and cfg.cluster is None:
        return fail(f"{cfg.source}: no [cluster] table: --cluster follows the hosts sharing one Redis")
    path = "/api/v1/stream" + (f"?cluster=1&since={args.since}" if args.cluster else "")
    try:
        for event in ApiClient.from_config(cfg).stream(path):
            kind = event.get("event_type")
            if kind == "keepalive":
                continue
            if kind == "stream_dropped":
                print(f"honeyswitch: {event.get('count')} events dropped (too slow a reader)", file=sys.stderr)
                continue
            if (args.event_type and kind != args.event_type) or (args.session and event.get("session_id") != args.session):
                continue
            print(json.dumps(event, default=str), flush=True)
    except ApiError as e:
        return fail(str(e))
    return 0
