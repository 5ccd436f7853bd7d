"""``honeyswitch rules check FILE...``: what the signature engine loads from rule files.

Prints the loaded / skipped / disabled counts and the skipped rules grouped by reason
(count and example sids).  Exit 0, or 2 when a file cannot be read.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..detect.signatures import Ruleset, load_classification, load_ruleset
from .common import EXIT_USAGE, fail, print_json, shown


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("rules", help="signature rule tools")
    rules_sub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    c = rules_sub.add_parser("check", help="load rule files and report skipped rules")
    c.add_argument("files", nargs="+", metavar="FILE", help="Suricata/Snort .rules files")
    c.add_argument("--classification", metavar="FILE",
                   help="classification.config for classtype priorities")
    c.add_argument("--examples", type=int, default=5, metavar="N",
                   help="example sids shown per skip reason (default 5)")
    c.add_argument("--json", action="store_true", help="print the counts and skip reasons as JSON")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        classification = (load_classification(args.classification)
                          if getattr(args, "classification", None) else None)
        ruleset = load_ruleset([Path(f) for f in args.files], classification=classification)
    except OSError as exc:
        return fail(f"cannot read {shown(exc.filename or exc)}: {exc.strerror or exc}",
                    EXIT_USAGE)
    examples = max(0, int(getattr(args, "examples", 5)))
    if getattr(args, "json", False):
        print_json(as_dict(ruleset, examples))
    else:
        report(ruleset, examples)
    return 0


def as_dict(ruleset: Ruleset, examples: int = 5) -> dict[str, Any]:
    return {"loaded": ruleset.loaded, "skipped": len(ruleset.skipped), "disabled": ruleset.disabled,
            "skipped_by_reason": [{"reason": reason, "count": len(items),
                                   "sids": [s.sid for s in items if s.sid is not None][:examples]}
                                  for reason, items in ruleset.by_reason()]}


def report(ruleset: Ruleset, examples: int = 5) -> None:
    total = ruleset.loaded + len(ruleset.skipped)
    share = f" ({100 * ruleset.loaded / total:.1f}%)" if total else ""
    print(f"loaded {ruleset.loaded}{share}, skipped {len(ruleset.skipped)}, "
          f"disabled {ruleset.disabled}")
    groups = ruleset.by_reason()
    if groups:
        print("skipped by reason:")
    for reason, items in groups:
        sids = [str(s.sid) for s in items if s.sid is not None][:examples]
        more = f" e.g. sid {', '.join(sids)}" if sids else ""
        print(f"  {len(items):6d}  {shown(reason, 80)}{more}")
