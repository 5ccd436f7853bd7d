"""What the subcommands share: the ``-c FILE`` option, loading config, printing."""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from ..config import Config, ConfigError, default_config_path, load

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c", "--config", metavar="FILE", default=None,
        help=f"config file (default: $HONEYSWITCH_CONFIG or {default_config_path()})",
    )


def load_config(args: argparse.Namespace) -> Config:
    return load(args.config or default_config_path())


def fail(message: str, code: int = EXIT_FAIL) -> int:
    print(f"honeyswitch: {printable(message)}", file=sys.stderr)
    return code


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1: terminal escapes, newlines)
    shown as an escape; other Unicode stays readable."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def shown(text: object, limit: int = 200) -> str:
    """Text that may hold attacker bytes, safe for a terminal: escaped and bounded."""
    s = str(text)
    s = s.encode("unicode_escape").decode("ascii")
    return s if len(s) <= limit else s[: limit - 3] + "..."


__all__ = ["ConfigError", "add_config_arg", "load_config", "fail", "print_json", "printable", "shown"]
