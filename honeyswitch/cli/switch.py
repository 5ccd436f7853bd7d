"""``honeyswitch switch ID | --client IP``: switch live sessions to the honeypot.

With ``[cluster]`` the session may live on another host (the control API asks it), and a
client's sessions are switched on every host."""
from __future__ import annotations

import argparse
import sys

from ..api.client import ApiClient, ApiError
from .common import add_config_arg, fail, load_config, shown


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("switch", help="switch a live session (or all of a client's) to the honeypot")
    add_config_arg(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("session_id", nargs="?", help="session id (see `honeyswitch sessions`)")
    target.add_argument("--client", metavar="IP", help="switch every live session of this client")
    p.add_argument("--reason", default="operator command", help="recorded with the switch")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        api = ApiClient.from_config(load_config(args))
        if args.client:
            result = api.op("switch_client", client=args.client, reason=args.reason)
        else:
            result = api.op("switch_session", id=args.session_id, reason=args.reason)
    except ApiError as e:
        return fail(str(e))
    ids = result.get("switched", [])
    for node, status in sorted((result.get("hosts") or {}).items()):  # [cluster]: each host's answer
        if status not in ("switched", "not_found"):
            print(f"{shown(node, 64)}: {shown(status, 20)}", file=sys.stderr)
    if not ids:
        return fail(f"no live mirrored session of {args.client}")
    where = f" on {shown(result['host'], 64)}" if result.get("host") else ""
    for sid in ids:
        print(f"switched {shown(sid, 64)}{where}")
    return 0
