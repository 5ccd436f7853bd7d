"""``honeyswitch top``: a live terminal view of sessions, source scores and alerts
(with ``[cluster]`` also the contact with the shared Redis and each source's parts
scored by the other hosts).

It polls the control API (every ``--interval`` seconds) and redraws the screen with
plain ANSI: the alternate screen, cursor home, each line cleared to its end.  ``--once``
(or output that is not a terminal) prints one frame without any escape sequence.
:func:`frame` is a pure function of the API's answers, so it is tested without a
terminal.  Every text from the daemon goes through :func:`~.common.shown`: attacker
bytes quoted in alert reasons cannot act on the terminal.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from typing import Any

from ..api.client import ApiClient, ApiError
from .common import add_config_arg, fail, load_config, shown

ENTER, LEAVE = "\x1b[?1049h\x1b[?25l", "\x1b[?25h\x1b[?1049l"  # alternate screen, cursor off/on
HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
ALERTS, SOURCES = 8, 8


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("top", help="live view of sessions, source scores and alerts")
    add_config_arg(p)
    p.add_argument("-n", "--interval", type=float, default=2.0, help="seconds between redraws (default 2)")
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    p.set_defaults(func=run)


def fetch(api: ApiClient) -> dict[str, Any]:
    return {
        "health": api.get("/api/v1/health"),
        "sessions": api.get("/api/v1/sessions")["sessions"],
        "sources": api.get(f"/api/v1/sources?limit={SOURCES}")["sources"],
        "alerts": api.get(f"/api/v1/alerts?limit={ALERTS}")["alerts"],
        "blacklist": len(api.get("/api/v1/blacklist")["blacklist"]),
    }


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 0):.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _sessions(sessions: list[dict[str, Any]], now: float, rows: int) -> list[str]:
    out = [f"{'SESSION':<14} {'SERVICE':<12} {'CLIENT':<26} {'STATE':<10} {'SCORE':>7} {'AGE':>6} "
           f"{'IN':>9} {'OUT':>9}"]
    ranked = sorted(sessions, key=lambda s: (-float(s.get("score") or 0), s.get("started") or 0))
    for s in ranked[:rows]:
        client = f"{s.get('src_ip')}:{s.get('src_port')}"
        out_bytes = int(s.get("bytes_main_to_client") or 0) + int(s.get("bytes_from_honeypot") or 0)
        out.append(f"{shown(s.get('session_id'), 14):<14} {shown(s.get('service'), 12):<12} "
                   f"{shown(client, 26):<26} {shown(s.get('state'), 10):<10} {float(s.get('score') or 0):>7.1f} "
                   f"{_age(now - float(s.get('started') or now)):>6} {int(s.get('bytes_from_client') or 0):>9} "
                   f"{out_bytes:>9}")
    if len(ranked) > rows:
        out.append(f"... {len(ranked) - rows} more")
    elif not ranked:
        out.append("(no live sessions)")
    return out


def _cluster(cluster: dict[str, Any] | None) -> list[str]:
    """With [cluster]: this host's contact with the shared Redis, on one line."""
    if not cluster:
        return []
    state = str(cluster.get("state"))
    line = f"cluster {shown(state, 12)} · redis {shown(cluster.get('redis'), 60)} · outbox {int(cluster.get('outbox') or 0)}"
    if cluster.get("outbox_dropped"):
        line += f" ({int(cluster['outbox_dropped'])} removals lost)"
    if state != "up":  # why: the first relay process's last error
        errors = [n.get("last_error") for n in (cluster.get("nodes") or {}).values() if n.get("last_error")]
        if errors:
            line += f" · {shown(errors[0], 80)}"
    return [line]


def _sources(sources: list[dict[str, Any]]) -> list[str]:
    """The top source scores; with [cluster], this host's part and the other hosts'."""
    if not any("nodes" in s for s in sources):
        return [f"{'SOURCE':<40} {'SCORE':>8}",
                *(f"{shown(s.get('src_ip'), 40):<40} {float(s.get('score') or 0):>8.1f}" for s in sources)]
    out = [f"{'SOURCE':<40} {'SCORE':>8} {'HERE':>8}  OTHER HOSTS"]
    for s in sources:
        parts = sorted((s.get("nodes") or {}).items(), key=lambda kv: -float(kv[1] or 0))
        others = ", ".join(f"{shown(node, 24)} {float(v or 0):.1f}" for node, v in parts) or "-"
        out.append(f"{shown(s.get('src_ip'), 40):<40} {float(s.get('score') or 0):>8.1f} "
                   f"{float(s.get('local') or 0):>8.1f}  {others}")
    return out


def frame(data: dict[str, Any], width: int = 120, height: int = 40, now: float | None = None) -> list[str]:
    """The screen's lines for one poll's answers (each cut to ``width``)."""
    now = time.time() if now is None else now
    health, sessions = data["health"], data["sessions"]
    on_hp = sum(1 for s in sessions if s.get("state") in ("honeypot", "direct"))
    workers = f" · workers {health.get('workers_up')}/{health['workers']}" if health.get("workers", 1) > 1 else ""
    lines = [f"honeyswitch {shown(health.get('version'), 20)} · {len(sessions)} sessions ({on_hp} on the honeypot)"
             f" · {data.get('blacklist', 0)} blacklisted{workers} · {time.strftime('%H:%M:%S', time.gmtime(now))} UTC",
             *_cluster(health.get("cluster")), ""]
    room = max(3, height - len(lines) - 6 - min(SOURCES, len(data["sources"])) - min(ALERTS, len(data["alerts"])))
    lines += _sessions(sessions, now, room)
    lines += ["", *_sources(data["sources"])]
    lines += ["", f"{'TIME':<8} {'SOURCE':<22} {'DETECTOR':<12} {'SCORE':>6}  REASON"]
    for a in reversed(data["alerts"]):
        lines.append(f"{str(a.get('timestamp', ''))[11:19]:<8} {shown(a.get('src_ip') or '-', 22):<22} "
                     f"{shown(a.get('detector') or '-', 12):<12} {float(a.get('score') or 0):>6.1f}  "
                     f"{shown(a.get('reason') or '', 200)}")
    return [line[:width] for line in lines[:height]]


def run(args: argparse.Namespace) -> int:
    try:
        api = ApiClient.from_config(load_config(args))
        if args.once or not sys.stdout.isatty():
            print("\n".join(frame(fetch(api), *shutil.get_terminal_size((120, 40)))))
            return 0
    except ApiError as e:
        return fail(str(e))
    return _live(api, max(0.2, args.interval))


def _live(api: ApiClient, interval: float) -> int:
    out = sys.stdout
    out.write(ENTER)
    try:
        while True:
            width, height = shutil.get_terminal_size((120, 40))
            try:
                lines = frame(fetch(api), width, height)
            except ApiError as e:  # the daemon restarting: say so and keep polling
                lines = [f"honeyswitch top: {shown(e, width - 20)}"]
            out.write(HOME + "".join(line + CLEAR_LINE + "\n" for line in lines[:-1]) + lines[-1]
                      + CLEAR_LINE + CLEAR_BELOW)
            out.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0
    finally:
        out.write(LEAVE)
        out.flush()
