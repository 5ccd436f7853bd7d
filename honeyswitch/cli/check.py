"""``honeyswitch check -c FILE``: validate a config file; ``--reference`` prints every
key with its default and meaning instead (from the key declarations)."""
from __future__ import annotations

import argparse

from ..config import SECTIONS
from ..schema import reference
from .common import add_config_arg, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check", help="validate a config file and exit (2 on any problem)")
    add_config_arg(p)
    p.add_argument("--reference", action="store_true", help="print every config key, commented, and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.reference:
        print(reference(SECTIONS), end="")
        return 0
    cfg = load_config(args)  # a ConfigError becomes one line and exit 2 in main()
    for svc in cfg.services:
        listen = ", ".join(f"{h}:{p}" for h, p in svc.listen)
        tls = "" if svc.tls is None else f"; tls {svc.tls.files[0]}" + (
            f" (+{len(svc.tls.contexts)} by SNI)" if svc.tls.contexts else "") + (
            f", starttls {svc.tls.starttls}" if svc.tls.starttls else "")
        print(f"service {svc.name}: listen {listen}; main {svc.main.url}; honeypot {svc.honeypot.url}; "
              f"align {svc.policy.align.value}; switch_threshold {svc.policy.switch_threshold:g}{tls}")
    if cfg.cluster is not None:
        print(f"cluster: host {cfg.cluster.host} through {cfg.cluster.mode} {cfg.cluster.shown()}"
              f" (prefix {cfg.cluster.prefix})")
    print(f"{cfg.source}: OK")
    return 0
