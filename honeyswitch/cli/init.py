"""``honeyswitch init --service KIND``: write a commented starter config (see
:mod:`honeyswitch.starter`) that ``honeyswitch check`` accepts as it is."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..starter import KINDS, default_paths, render
from .common import fail


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="write a commented starter config for a kind of service",
                       description="Write a starter config: one [[service]] per --service, the other "
                       "tables with their defaults shown.  Paths are the system ones for a file under "
                       "/etc, else state/ and log/ beside the file.")
    p.add_argument("--service", action="append", choices=KINDS, required=True, dest="kinds",
                   help="kind of service (repeat for several)")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: print it)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if len(set(args.kinds)) != len(args.kinds):
        return fail("each --service kind once (their names and ports would clash)", 2)
    state, logs = default_paths(args.output)
    text = render(args.kinds, state, logs)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        # 0640: the file may come to hold a control token.
        with os.fdopen(os.open(args.output, flags, 0o640), "w") as f:
            f.write(text)
    except FileExistsError:
        return fail(f"{args.output} exists (--force overwrites it)")
    except OSError as e:
        return fail(f"cannot write {args.output}: {e.strerror}")
    print(f"wrote {args.output}; check it with: honeyswitch check -c {args.output}")
    return 0
