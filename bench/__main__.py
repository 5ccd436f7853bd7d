"""``python -m bench``: honeyswitch against direct and HAProxy, on loopback.

    python -m bench                      # every case, 3 runs each (about 10 minutes)
    python -m bench --quick              # 1 short run of each: a smoke
    python -m bench --only bulk1,pingpong50 --targets direct,haproxy,hs-mirror
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report
from .cases import Case, all_cases
from .detection import DEFAULT_RULES_DIR
from .procs import raise_nofile
from .runner import run_all
from .settings import Settings
from .targets import NAMES

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 short run of each case (smoke)")
    ap.add_argument("--only", metavar="CASES", help="comma-separated case names or prefixes (see --list)")
    ap.add_argument("--targets", metavar="NAMES", help=f"comma-separated subset of {', '.join(NAMES)}")
    ap.add_argument("--runs", type=int, help="runs per case (default 3; --quick 1)")
    ap.add_argument("--rules-dir", type=Path, default=Path(os.environ.get("HONEYSWITCH_BENCH_RULES", DEFAULT_RULES_DIR)),
                    help="directory of the ET slice *.rules (default %(default)s)")
    ap.add_argument("--eve-config", type=Path, metavar="FILE",
                    help="TOML snippet enabling the EVE tailer, with {path} for the eve.json file")
    ap.add_argument("--honeypot-buffer", metavar="SIZE", help="honeypot_buffer for every service "
                    "(default: honeyswitch's own default)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="directory for the JSON (default %(default)s)")
    ap.add_argument("--budget", type=float, default=1800.0, help="seconds after which remaining runs are skipped")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, configs)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--report", type=Path, metavar="JSON", help="print the table of an earlier run and exit")
    return ap.parse_args(argv)


def select(cases: list[Case], only: str | None) -> list[Case]:
    if not only:
        return cases
    tokens = [t.strip() for t in only.split(",") if t.strip()]
    chosen = [c for c in cases if any(c.name == t or c.name.startswith(t) for t in tokens)]
    if not chosen:
        raise SystemExit(f"--only {only}: no such case; known: {', '.join(c.name for c in cases)}")
    return chosen


def _version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None and not Path(f"/usr/sbin/{argv[0]}").exists():
        return "not installed"
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    text = (res.stdout + res.stderr).strip().splitlines()
    return text[0] if text else ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=HERE.parent).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict[str, Any]:
    # The daemon runs from the work tree: say which code was measured.
    dirty = [ln for ln in _git("status", "--porcelain", "--untracked-files=no").splitlines() if ln.strip()]
    from honeyswitch import native  # the daemons run the same modules (HONEYSWITCH_PURE passes on)

    return {
        "cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
        "honeyswitch_modules": "compiled" if native.compiled() else "pure",
        "commit": _git("rev-parse", "--short", "HEAD"), "modified_files": len(dirty),
        "tools": {"haproxy": _version(["haproxy", "-v"]), "iperf3": _version(["iperf3", "--version"]),
                  "wrk": _version(["wrk", "-v"]), "nginx": _version(["nginx", "-v"])},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = all_cases()
    if args.list:
        for c in cases:
            print(f"{c.name:<14} {c.title}")
        return 0
    if args.report:
        return rerender(args.report, cases)
    cases = select(cases, args.only)
    targets = {t.strip() for t in args.targets.split(",")} if args.targets else None
    common: dict[str, Any] = dict(rules_dir=args.rules_dir, out_dir=args.out, honeypot_buffer=args.honeypot_buffer,
                                  eve_template=args.eve_config.read_text() if args.eve_config else None,
                                  budget_seconds=args.budget)
    settings = Settings.quick_settings(**common) if args.quick else Settings(**common)
    if args.runs:
        settings = dataclasses.replace(settings, runs=max(1, args.runs))
    raise_nofile()
    work = Path(tempfile.mkdtemp(prefix="hs-bench-"))
    started = datetime.now(UTC)
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"work directory {work}")
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        # Other work on this 2-core machine shifts every figure: say so next to them.
        log(f"warning: load average {load_before[0]:.2f} before the run: figures will be noisy")
    try:
        info, results = run_all(settings, cases, work, targets, log)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for case in cases:
        report.summarize(case, results[case.name])
    doc = {
        "schema": "honeyswitch-bench/1",
        "started": started.isoformat(), "seconds": round(time.monotonic() - t0, 1),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in _fields(settings).items()},
        "machine": {**machine(), "load_before": load_before, "load_after": os.getloadavg()}, "targets": info,
        "cases": {c.name: {"title": c.title, "notes": list(c.notes), "metrics": [m.key for m in c.metrics],
                           "results": results[c.name]} for c in cases},
    }
    text = report.table(cases, results, info)
    doc["table"] = text
    path = args.out / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    report.write_json(path, doc)
    print(text)
    print(f"load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} (1 min)")
    print(f"JSON: {path}" + (f"; work directory kept: {work}" if args.keep else ""))
    return 0


def rerender(path: Path, cases: list[Case]) -> int:
    """The table of a results file, summarized again with this version's metrics."""
    doc = json.loads(path.read_text())
    present = [c for c in cases if c.name in doc["cases"]]
    results = {c.name: doc["cases"][c.name]["results"] for c in present}
    for case in present:
        report.summarize(case, results[case.name])
    print(report.table(present, results, doc["targets"]))
    return 0


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


if __name__ == "__main__":
    sys.exit(main())
