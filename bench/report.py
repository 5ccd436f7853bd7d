"""Summaries (median and range of each metric over the runs), ratios against direct and
HAProxy, the printed table and the JSON file."""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from .cases import Case, Metric


def value(run: dict[str, Any], key: str) -> float | None:
    """``key`` of one run's result; dots reach into nested dicts (``events.alert``)."""
    cur: Any = run
    for part in key.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part, 0 if key.startswith("events.") else None)
    if isinstance(cur, bool) or not isinstance(cur, int | float) or math.isnan(cur):
        return None
    return float(cur)


def summarize(case: Case, slots: dict[str, Any]) -> None:
    """Adds "summary", "ratios" and "added" to each configuration's slot, in place."""
    for slot in slots.values():
        summary = {}
        for m in case.metrics:
            vals = [v for r in slot["runs"] if (v := value(r, m.key)) is not None]
            if vals:
                summary[m.key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                                  "sum": sum(vals), "n": len(vals)}
        slot["summary"] = summary
    ref = {"direct": slots.get("direct", {}).get("summary", {}),
           "haproxy": slots.get(case.reference, {}).get("summary", {})}
    for slot in slots.values():
        ratios: dict[str, Any] = {}
        added: dict[str, Any] = {}
        for m in case.metrics:
            mine = slot["summary"].get(m.key, {}).get("median")
            if mine is None:
                continue
            d = ref["direct"].get(m.key, {}).get("median")
            h = ref["haproxy"].get(m.key, {}).get("median")
            if m.better:
                ratios[m.key] = {"vs_direct": _div(mine, d), "vs_haproxy": _div(mine, h)}
            if m.added and d is not None:
                mine_added = mine - d
                added[m.key] = {"over_direct": mine_added,
                                "vs_haproxy_added": _div(mine_added, None if h is None else h - d)}
        slot["ratios"], slot["added"] = ratios, added


def _div(a: float, b: float | None) -> float | None:
    return None if b is None or b <= 0 else a / b


def _fmt(m: Metric, v: float | None) -> str:
    return "-" if v is None else m.fmt.format(v)


def _cell(m: Metric, s: dict[str, Any] | None, primary: bool) -> str:
    if not s:
        return "-"
    if m.agg == "sum":
        return _fmt(m, s["sum"])
    text = _fmt(m, s["median"])
    if primary and s["n"] > 1:
        text += f" [{_fmt(m, s['min'])}-{_fmt(m, s['max'])}]"
    return text


def _ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def case_table(case: Case, slots: dict[str, Any], targets: dict[str, Any] | None = None) -> list[str]:
    lines = [f"{case.name}: {case.title}"]
    if not case.metrics:
        return lines + _external_lines(slots)
    head = ["config"]
    for m in case.metrics:
        head.append(m.label)
        if m.better:
            head += ["x direct", "x haproxy"]
        if m.added:
            head += ["+" + m.label.split()[0], "+ x haproxy"]
    rows = [head]
    notes = []
    for name, slot in slots.items():
        if slot.get("skipped") and not slot["runs"]:
            known = (targets or {}).get(name, {})
            why = "see 'configurations not run'" if known and not known["available"] else slot["skipped"]
            notes.append(f"  {name}: skipped: {why[:400]}")
            continue
        if not slot["runs"]:
            notes.append(f"  {name}: no result: {'; '.join(slot['errors'])[:300]}")
            continue
        row = [name]
        for i, m in enumerate(case.metrics):
            row.append(_cell(m, slot["summary"].get(m.key), primary=(i == 0)))
            if m.better:
                r = slot["ratios"].get(m.key, {})
                row += [_ratio(r.get("vs_direct")), _ratio(r.get("vs_haproxy"))]
            if m.added:
                a = slot["added"].get(m.key, {})
                row += [_fmt(m, a.get("over_direct")), _ratio(a.get("vs_haproxy_added"))]
        rows.append(row)
        for err in slot["errors"]:
            notes.append(f"  {name}: {err[:300]}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        lines.append("  " + "  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))))
    lines += notes
    lines += [f"  note: {n}" for n in case.notes]
    return lines


def _external_lines(slots: dict[str, Any]) -> list[str]:
    lines = []
    for slot in slots.values():
        for run in slot["runs"]:
            for name, res in run.get("scripts", {}).items():
                lines.append(f"  {name}: {res.get('status')} {res.get('note', '')}".rstrip())
                lines += [f"    {f}" for f in res.get("figures", [])]
        for err in slot["errors"]:
            lines.append(f"  error: {err[:300]}")
    return lines


def table(cases: list[Case], results: dict[str, dict[str, Any]], targets: dict[str, Any]) -> str:
    out = []
    for case in cases:
        if case.name in results:
            out += case_table(case, results[case.name], targets) + [""]
    skipped = [f"  {n}: {t['note'][:600]}" for n, t in targets.items() if not t["available"]]
    if skipped:
        out += ["configurations not run:", *skipped]
    return "\n".join(out)


def clean(obj: Any) -> Any:
    """JSON has no NaN: a figure that could not be computed becomes null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    return obj


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(doc), indent=1, default=str, allow_nan=False) + "\n")
