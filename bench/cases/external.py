"""Detector throughput, measured by scripts of their own (written with the detectors):
``bench/inspect_throughput.py`` (inspection MB/s with the ET slice) and
``bench/anomaly_throughput.py`` (anomaly scores/s).  Each is run once if it exists, and
what it prints is kept (and shown, up to 40 lines) as it is."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from ..procs import REPO
from ..targets import Target
from . import Case, Context

SCRIPTS = ("inspect_throughput.py", "anomaly_throughput.py")
TIMEOUT = 300.0


def _args(script: Path, ctx: Context) -> list[str]:
    """Options we know how to pass, if the script has them (found in its --help)."""
    try:
        helptext = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                                  text=True, timeout=60, cwd=REPO).stdout
    except subprocess.TimeoutExpired:
        return []
    args: list[str] = []
    if "--rules" in helptext:
        args += ["--rules", str(ctx.settings.rules_dir)]
    if ctx.settings.quick:
        if "--quick" in helptext:
            args.append("--quick")
        elif "--seconds-per-case" in helptext:
            args += ["--seconds-per-case", "0.2"]
    return args


def run_script(script: Path, ctx: Context) -> dict[str, Any]:
    if not script.exists():
        return {"status": "missing", "note": f"{script.name} is not written yet"}
    argv = [sys.executable, str(script), *_args(script, ctx)]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "note": f"no result in {TIMEOUT:.0f}s", "argv": argv[1:]}
    lines = res.stdout.splitlines()
    return {
        "status": "ok" if res.returncode == 0 else f"exit {res.returncode}",
        "argv": argv[1:],
        "figures": [ln.rstrip() for ln in lines if ln.strip()][:40],
        "output": res.stdout[-20000:],
        "stderr": res.stderr[-2000:],
    }


def run(ctx: Context, target: Target | None) -> dict[str, Any]:
    here = Path(__file__).resolve().parent.parent
    return {"scripts": {name.removesuffix(".py"): run_script(here / name, ctx) for name in SCRIPTS}}


CASE = Case("detectors", "inspection MB/s (ET slice) and anomaly scores/s, by their own scripts",
            (), (), run, (), max_runs=1)
