"""Runs the selected cases: starts the backends and configurations they need, repeats
each case with the configurations interleaved (so slow drift of the machine touches all
of them alike), and collects every run's numbers.  Everything it starts is stopped."""
from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from .cases import Case, Context
from .procs import stop_all
from .servers import start_pair
from .settings import Settings
from .targets import Direct, Skip, Target
from .targets.haproxy import HAProxy
from .targets.honeyswitch import Honeyswitch

TOOLS = {"bulk": "iperf3", "http": "nginx", "connrate": "wrk"}


def make_target(name: str, ctx: Context) -> Target:
    s = ctx.settings
    if name == "direct":
        return Direct(ctx.pairs, ctx.work)
    if name == "haproxy":
        return HAProxy(ctx.pairs, ctx.work)
    if name in ("tls-haproxy", "tls-hs"):
        from .targets.tls import TlsHAProxy, TlsHoneyswitch

        return TlsHAProxy(ctx.pairs, ctx.work) if name == "tls-haproxy" else TlsHoneyswitch(ctx.pairs, ctx.work)
    return Honeyswitch(name, ctx.pairs, ctx.work, rules_dir=s.rules_dir,
                       honeypot_buffer=s.honeypot_buffer, eve_template=s.eve_template)


def missing_tools(case: Case) -> list[str]:
    needed = [TOOLS[k] for k in (*case.backends, case.name) if k in TOOLS]
    return [t for t in needed if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]


def setup(ctx: Context, cases: list[Case], only_targets: set[str] | None) -> None:
    """Start the backends and configurations the cases need; note what could not start."""
    for kind in sorted({k for c in cases for k in c.backends}):
        ctx.pairs[kind] = start_pair(kind, ctx.work)
    wanted = [t for t in dict.fromkeys(t for c in cases for t in c.targets)
              if only_targets is None or t in only_targets]
    for name in wanted:
        target = make_target(name, ctx)
        ctx.log(f"starting {name}")
        try:
            if isinstance(target, Honeyswitch):
                target.prepare()
            if target.available:
                target.start()
        except Exception as e:  # noqa: BLE001 - one configuration failing must not stop the others
            target.available, target.note = False, f"could not start: {e}"
        if not target.available:
            ctx.log(f"  {name}: skipped: {target.note}")
        ctx.targets[name] = target


def run_case(ctx: Context, case: Case, deadline: float) -> dict[str, Any]:
    """Every run of one case: {target: {"runs": [...], "skipped": note, "errors": [...]}}."""
    names = list(case.targets) or ["-"]
    out: dict[str, Any] = {n: {"runs": [], "errors": [], "skipped": None} for n in names}
    if missing := missing_tools(case):
        for n in names:
            out[n]["skipped"] = f"not installed: {', '.join(missing)} (make bench installs it)"
        return out
    runs = min(ctx.settings.runs, case.max_runs or ctx.settings.runs)
    for i in range(runs):
        for name in names:
            target = ctx.targets.get(name) if name != "-" else None
            slot = out[name]
            if name != "-" and (target is None or not target.available):
                slot["skipped"] = target.note if target is not None else "not selected (--targets)"
                continue
            if slot["skipped"]:
                continue
            if time.monotonic() > deadline:
                slot["errors"].append(f"run {i + 1} skipped: over the time budget")
                continue
            _one(ctx, case, target, slot, i, runs)
    return out


def _one(ctx: Context, case: Case, target: Target | None, slot: dict[str, Any], i: int, runs: int) -> None:
    label = f"[{case.name} {i + 1}/{runs}] {target.name if target else ''}"
    try:
        if target is not None and case.fresh:
            target.restart()
        mark = target.events_mark() if target else 0
        result = case.run(ctx, target)
        if target is not None and target.name.startswith("hs-"):
            time.sleep(0.2)  # the daemon's writer thread appends events a moment later
            result["events"] = target.events_since(mark)
        slot["runs"].append(result)
        ctx.log(f"{label}: {_brief(case, result)}")
    except Skip as e:
        slot["skipped"] = str(e)
        ctx.log(f"{label}: skipped: {e}")
    except Exception as e:  # noqa: BLE001 - recorded, and the other runs go on
        slot["errors"].append(f"run {i + 1}: {type(e).__name__}: {e}")
        ctx.log(f"{label}: ERROR {type(e).__name__}: {e}")
        ctx.log(traceback.format_exc(limit=-4))  # the innermost frames say where


def _brief(case: Case, result: dict[str, Any]) -> str:
    if not case.metrics:
        return "done"
    m = case.metrics[0]
    value = result.get(m.key)
    return f"{m.label} {m.fmt.format(value) if isinstance(value, int | float) else value}"


def run_all(settings: Settings, cases: list[Case], work: Path, only_targets: set[str] | None,
            log: Any = print) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(targets info, case results); stops every process it started before returning."""
    ctx = Context(settings, {}, {}, work, log)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    try:
        setup(ctx, cases, only_targets)
        deadline = started + settings.budget_seconds
        for case in cases:
            results[case.name] = run_case(ctx, case, deadline)
    finally:
        for target in ctx.targets.values():
            try:
                target.stop()
            except Exception:  # noqa: BLE001 - stop_all below still ends it
                pass
        stop_all()
    info = {n: {"available": t.available, "note": t.note} for n, t in ctx.targets.items()}
    return info, results
