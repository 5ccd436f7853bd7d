"""``honeyswitch switch ID | --client IP``: switch live sessions to the honeypot."""
from __future__ import annotations

import argparse

from ..api.client import ApiClient, ApiError
from .common import add_config_arg, fail, load_config


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
    if not ids:
        return fail(f"no live mirrored session of {args.client}")
    for sid in ids:
        print(f"switched {sid}")
    return 0
