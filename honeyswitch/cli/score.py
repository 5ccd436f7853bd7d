"""``honeyswitch score``: score request files against an anomaly model.

Exit status, like grep: 0 when no file is anomalous, 1 when at least one is, 2 on errors.
"""
from __future__ import annotations

import argparse

from .common import fail, shown

EXIT_NONE, EXIT_ANOMALOUS, EXIT_ERROR = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "score", help="score request files against an anomaly model",
        description="Print each file's anomaly score (one request per file) and whether it is "
                    "above the model's threshold. Exit 1 if any file is anomalous, 2 on errors.")
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
    from honeyswitch.detect.anomaly import load_model

    try:
        model = load_model(args.model)
    except OSError as exc:
        return fail(f"score: {shown(args.model)}: {exc.strerror or exc}", EXIT_ERROR)
    except ValueError as exc:
        return fail(f"score: {shown(exc)}", EXIT_ERROR)
    status = EXIT_NONE
    for path in args.files:
        try:
            data, length = _read(path, model.config.shape.cap)
        except OSError as exc:
            fail(f"score: {shown(path)}: {exc.strerror or exc}", EXIT_ERROR)
            status = EXIT_ERROR
            continue
        score = model.score(data, length)
        verdict = f"ANOMALOUS  {score.reason()}" if score.anomalous else "normal"
        print(f"{shown(path)}\t{score.total:.3f}\t{verdict}")
        if score.anomalous and status == EXIT_NONE:
            status = EXIT_ANOMALOUS
    print(f"threshold {model.threshold:.3f} ({shown(model.service)}, {model.n_samples} training samples)")
    return status
