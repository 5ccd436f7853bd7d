"""``honeyswitch incidents``: alerts grouped by source, with their score over time."""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .common import add_config_arg, load_config, shown

_BARS = " ▁▂▃▄▅▆▇█"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("incidents", help="incidents: a source's alerts grouped in time, with scores")
    add_config_arg(p)
    p.add_argument("--source", metavar="IP", help="only this source address")
    p.add_argument("-n", "--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store.db import Store

    cfg = load_config(args)
    store = Store(cfg.store_path)
    try:
        rows = store.incidents(limit=args.limit, src_ip=args.source)
    finally:
        store.close()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    for inc in rows:
        print(render(inc))
    if not rows:
        print("no incidents")
    return 0


def render(inc: dict[str, Any]) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(inc["started"]))
    state = "closed" if inc.get("closed") else "open"
    reasons = "; ".join(f"{shown(r['reason'], 60)} x{r['count']}" for r in inc.get("reasons", [])[:3])
    return (
        f"{inc['incident_id']}  {shown(inc['src_ip'], 40)}  {state}  since {started} UTC  "
        f"{inc['alerts']} alerts  score {inc['score']:.1f}  [{sparkline(inc.get('timeline', []))}]\n"
        f"    services: {', '.join(map(shown, inc.get('services', []))) or '-'}  "
        f"detectors: {', '.join(map(shown, inc.get('detectors', []))) or '-'}  "
        f"sessions: {len(inc.get('sessions', []))}\n"
        f"    top reasons: {reasons or '-'}"
    )


def sparkline(timeline: list[list[float]], width: int = 24) -> str:
    """Cumulative score over time as a bar line (each bar one time slice)."""
    if not timeline:
        return ""
    t0, t1 = timeline[0][0], timeline[-1][0]
    span = max(t1 - t0, 1e-9)
    top = max(s for _, s in timeline) or 1.0
    bars, j = [], 0
    for i in range(width):
        edge = t0 + span * (i + 1) / width
        while j + 1 < len(timeline) and timeline[j + 1][0] <= edge:
            j += 1
        bars.append(_BARS[round(timeline[j][1] / top * (len(_BARS) - 1))])
    return "".join(bars)
