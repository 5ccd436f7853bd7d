"""``honeyswitch blacklist list|add|remove|export``."""
from __future__ import annotations

import argparse
import time

from ..api.client import ApiClient, ApiError
from .common import add_config_arg, fail, load_config, print_json, shown


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("blacklist", help="show or change the blacklist")
    bl = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = bl.add_parser("list", help="list entries")
    ls.add_argument("--json", action="store_true")
    add = bl.add_parser("add", help="add an address (its new sessions go to the honeypot)")
    add.add_argument("ip")
    add.add_argument("--ttl", type=float, default=None, help="seconds (default: config blacklist.ttl)")
    add.add_argument("--reason", default="operator")
    rm = bl.add_parser("remove", help="remove an address")
    rm.add_argument("ip")
    ex = bl.add_parser("export", help="print the blacklist as text, an nft set or an ipset file")
    ex.add_argument("--format", choices=("text", "nft", "ipset"), default="text")
    for q in (ls, add, rm, ex):
        add_config_arg(q)
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if args.action == "export":
        return _export(cfg, args.format)
    try:
        api = ApiClient.from_config(cfg)
        if args.action == "list":
            entries = api.op("blacklist")["blacklist"]
            if args.json:
                print_json(entries)
            else:
                _print(entries)
        elif args.action == "add":
            entry = api.op("blacklist_add", ip=args.ip, ttl=args.ttl, reason=args.reason)
            print(f"added {entry['added']['ip']}")
        else:
            api.op("blacklist_remove", ip=args.ip)
            print(f"removed {args.ip}")
    except ApiError as e:
        return fail(str(e))
    return 0


def _print(entries: list[dict]) -> None:
    now = time.time()
    print(f"{'ADDRESS':<40} {'EXPIRES IN':>11}  {'BY':<12} REASON")
    for e in entries:
        exp = e.get("expires")
        left = "never" if not exp else f"{max(0.0, exp - now):.0f}s"
        print(f"{e['ip']:<40} {left:>11}  {shown(e.get('by') or '', 12):<12} {shown(e.get('reason', ''))}")


def _export(cfg, fmt: str) -> int:  # type: ignore[no-untyped-def]
    """Read the store directly: export works with the daemon stopped too."""
    from ..store.blacklist import Blacklist
    from ..store.db import Store

    store = Store(cfg.store_path)
    try:
        print(Blacklist(store, cfg.blacklist).export(fmt), end="")
    finally:
        store.close()
    return 0
