"""``honeyswitch run -c FILE``: the daemon."""
from __future__ import annotations

import argparse

from ..logsetup import configure
from .common import add_config_arg, fail, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the daemon in the foreground")
    add_config_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if cfg.cluster is not None:
        from .. import extras

        extras.require("cluster")  # one line and exit 2, before any worker starts
    configure(cfg.log_level)  # the journal under systemd: no doubled timestamps
    from ..loop import run_loop

    if cfg.daemon.workers > 1:
        from ..cluster.supervisor import StartupError, Supervisor

        try:
            run_loop(Supervisor(cfg).run())
        except StartupError as e:
            return fail(str(e), e.code)
        except OSError as e:
            return fail(str(e))
        return 0
    from ..app import App

    try:
        run_loop(App(cfg).run())
    except OSError as e:
        return fail(str(e))
    return 0
