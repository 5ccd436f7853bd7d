"""Entry point: ``honeyswitch SUBCOMMAND ...``."""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..config import ConfigError
from .common import EXIT_USAGE, fail

# Subcommand modules, each with add_parser(subparsers); optional ones may be missing.
SUBCOMMANDS = (
    "run", "check", "init", "demo", "sessions", "switch", "blacklist", "transcript", "events",
    "alerts", "incidents", "top", "rules", "train", "score", "firewall", "decoy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="honeyswitch",
        description="Mirror TCP sessions to a real server and a honeypot copy; "
        "switch attackers to the honeypot mid-session.",
    )
    parser.add_argument("--version", action="version", version=f"honeyswitch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"honeyswitch.cli.{name}")
        except ImportError as e:
            if e.name and e.name.startswith("honeyswitch.cli"):
                continue  # not built into this installation
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        return fail(str(e), EXIT_USAGE)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
