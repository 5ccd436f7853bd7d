"""``honeyswitch firewall plan|apply|remove``: the interception rules of the configured
services (``intercept = "redirect"|"tproxy"``), generated, never hand-written."""
from __future__ import annotations

import argparse

from ..config import Config
from ..intercept import iptables, nft
from ..intercept.plan import Plan, build_plan
from ..intercept.runner import RunError, Step, run_nft, run_steps
from .common import add_config_arg, fail, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("firewall", help="print, install or remove the interception rules")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("plan", "print the rules for the configured services"),
        ("apply", "install them in table inet honeyswitch (again: replaces it)"),
        ("remove", "remove exactly that table and our policy routes (absent: no error)"),
    ):
        q = actions.add_parser(name, help=text)
        tool = q.add_mutually_exclusive_group()
        tool.add_argument("--iptables", action="store_true", help="iptables/ipset commands instead of nft")
        tool.add_argument("--nft", action="store_true", help="nftables (the default unless [firewall] tool)")
        add_config_arg(q)
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    plan = build_plan(cfg.services, cfg.firewall)
    use_iptables = args.iptables or (cfg.firewall.tool == "iptables" and not args.nft)
    if args.action == "plan":
        print(_plan_text(plan, use_iptables), end="")
        return 0
    try:
        if args.action == "apply":
            _apply(cfg, plan, use_iptables)
        else:
            _remove(plan, use_iptables)
    except RunError as e:
        return fail(f"firewall {args.action}: {e}")
    return 0


def _plan_text(plan: Plan, use_iptables: bool) -> str:
    if use_iptables:
        return iptables.script(iptables.apply_steps(plan))
    routing = nft.routing_apply(plan)
    tail = "".join(f"#   {s.shell()}\n" for s in routing if not (s.repeat or s.may_fail))
    note = "# then the policy routing for marked packets, as `firewall apply` runs it:\n" + tail
    return nft.ruleset(plan) + (note if plan.routing else "")


def _apply(cfg: Config, plan: Plan, use_iptables: bool) -> None:
    if use_iptables:
        run_steps(iptables.apply_steps(plan, _blacklist_export(cfg, "ipset")))
        what = "iptables chains HONEYSWITCH*"
    else:
        run_nft(nft.ruleset(plan, _blacklist_export(cfg, "nft")))
        run_steps(nft.routing_apply(plan))
        what = "table inet honeyswitch"
    print(f"applied {what}: {len(plan.redirects)} redirect, {len(plan.tproxies)} tproxy, "
          f"{len(plan.isolates)} isolation rule(s)" + (_routing_note(plan) if plan.routing else ""))


def _remove(plan: Plan, use_iptables: bool) -> None:
    steps: list[Step]
    if use_iptables:
        steps = iptables.remove_steps(plan)
    else:
        run_nft(nft.remove_script())
        steps = nft.routing_remove(plan)
    run_steps(steps)
    print("removed " + ("iptables chains HONEYSWITCH*" if use_iptables else "table inet honeyswitch"))


def _routing_note(plan: Plan) -> str:
    fw = plan.firewall
    return f"; packets marked {fw.mark:#x} are delivered locally (route table {fw.route_table})"


def _blacklist_export(cfg: Config, fmt: str) -> str:
    """The stored blacklist in ``fmt``, so applying does not empty the kernel's copy."""
    if not cfg.firewall.blacklist_set or not cfg.store_path.exists():
        return ""
    from ..store.blacklist import Blacklist
    from ..store.db import Store

    store = Store(cfg.store_path)
    try:
        return Blacklist(store, cfg.blacklist).export(fmt)
    finally:
        store.close()
