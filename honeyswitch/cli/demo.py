"""``honeyswitch demo``: a self-contained run on loopback (see honeyswitch.demo)."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run the self-contained demo on loopback")
    p.add_argument("--dir", type=Path, help="keep the records here (default: a new temporary directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo.scenario import run_demo
    from ..loop import run_loop

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="honeyswitch-demo-"))
    return run_loop(run_demo(workdir))
