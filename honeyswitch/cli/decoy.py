"""``honeyswitch decoy up|status|down``: honeypot copies on isolated namespace hosts."""
from __future__ import annotations

import argparse

from ..config import Config
from ..intercept import decoy
from .common import add_config_arg, fail, load_config, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("decoy", help="start, show or stop an isolated honeypot host ([[decoy]])")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start a decoy in its own namespace (root)")
    up.add_argument("name")
    st = actions.add_parser("status", help="show decoys: state, address, limits applied")
    st.add_argument("name", nargs="?")
    st.add_argument("--json", action="store_true")
    down = actions.add_parser("down", help="stop a decoy and throw away everything it wrote")
    down.add_argument("name")
    for q in (up, st, down):
        add_config_arg(q)
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:
        if args.action == "status":
            return _status(cfg, args.name, args.json)
        d = decoy.find(cfg.decoys, args.name)
        sdir = decoy.state_dir(cfg.store_path, d.name)
        if args.action == "up":
            state = decoy.up(d, sdir)
            print(f"decoy {d.name} up: {state['ip']} (host side {state['host_ip']}), pid {state['pid']}, "
                  f"files {state.get('files', 'none')}, limits {_limits(state)}")
        elif decoy.down(d.name, sdir):
            print(f"decoy {d.name} down; its writes are gone")
        else:
            print(f"decoy {d.name} was not up")
    except decoy.DecoyError as e:
        return fail(str(e))
    return 0


def _status(cfg: Config, name: str | None, as_json: bool) -> int:
    chosen = [decoy.find(cfg.decoys, name)] if name else list(cfg.decoys)
    rows = [decoy.status(d, decoy.state_dir(cfg.store_path, d.name)) for d in chosen]
    if as_json:
        print_json(rows)
        return 0
    print(f"{'NAME':<20} {'STATE':<6} {'ADDRESS':<18} {'PID':>7}  {'FILES':<8} LIMITS")
    for r in rows:
        print(f"{r['name']:<20} {r['state']:<6} {r['address']:<18} {r.get('pid', '-'):>7}  "
              f"{r.get('files', '-'):<8} {_limits(r)}")
    return 0


def _limits(state: dict) -> str:  # type: ignore[type-arg]
    limits = state.get("limits") or {}
    return ", ".join(f"{k}: {v}" for k, v in limits.items()) or "none"
