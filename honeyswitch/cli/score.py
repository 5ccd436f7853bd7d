"""``honeyswitch score``: score request files against an anomaly model.

Exit status: 0 when no file is anomalous, 1 when at least one is, 2 on errors.
"""
from __future__ import annotations

import argparse
import sys

from honeyswitch.detect.anomaly import load_model


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "score", help="score request files against an anomaly model",
        description="Print each file's anomaly score (one request per file) and whether it is "
                    "above the model's threshold. Exit 1 if any file is anomalous.")
    p.add_argument("--model", required=True, help="model file written by 'honeyswitch train'")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=run)
    return p


def _read(path: str, cap: int) -> tuple[bytes, int]:
    with open(path, "rb") as fh:
        data = fh.read(cap)
        rest = 0
        while chunk := fh.read(1 << 20):  # count, don't keep, what is past the cap
            rest += len(chunk)
    return data, len(data) + rest


def run(args: argparse.Namespace) -> int:
    try:
        model = load_model(args.model)
    except (ValueError, OSError) as exc:
        print(f"honeyswitch score: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in args.files:
        try:
            data, length = _read(path, model.config.shape.cap)
        except OSError as exc:
            print(f"honeyswitch score: {path}: {exc.strerror or exc}", file=sys.stderr)
            status = 2
            continue
        score = model.score(data, length)
        verdict = "ANOMALOUS" if score.anomalous else "normal"
        why = f"  {score.reason()}" if score.anomalous else ""
        print(f"{path}\t{score.total:.3f}\t{verdict}{why}")
        if score.anomalous and status == 0:
            status = 1
    print(f"threshold {model.threshold:.3f}", file=sys.stderr)
    return status
