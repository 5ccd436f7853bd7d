"""Benchmark of ``[cluster]`` with real daemons: decision propagation between two
``honeyswitch run`` processes through a real redis-server, and the admission cost of a
connection with and without the cluster.

    python -m bench.cluster_daemons [--quick] [--decisions 300] [--switches 60] [--connections 2000]

- **propagation**: an operator lists an address through daemon A's control API; the
  figure is from A's ``blacklist_add`` event to B's (both stamped by the same clock, at
  the moment each daemon changed its in-memory blacklist).  One decision every 20 ms.
- **cross-host switch**: ``POST /api/v1/sessions/{id}/switch`` to A for a session B
  holds, until A answers that B switched it (A finds the session's host in the
  listings, asks B through Redis, B switches it and answers).
- **admission**: sequential new connections (connect, one line, its reply, EOF both ways) to a
  daemon (1) without ``[cluster]``, (2) with it, nothing decided elsewhere, (3) with it
  while the other daemon keeps listing addresses (100 a second), (4) with it while
  Redis is down (killed).  Per connection: p50/p99 of the round trip and the daemon's
  CPU time.

Prints p50/p99 and the ratios; ``--json FILE`` also writes them.  Everything runs on
loopback; on a shared machine compare the ratios within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.cluster_sync import pct
from honeyswitch.testing.daemon import TOKEN, Daemon, echo_backends, write_config
from honeyswitch.testing.redisprocs import RedisProc

TICK = os.sysconf("SC_CLK_TCK")


def figures(values: list[float], scale: float = 1e3) -> dict[str, float]:
    return {"p50": pct(values, 50) * scale, "p99": pct(values, 99) * scale, "n": len(values)}


def start(work: Path, name: str, main: int, honeypot: int, redis: RedisProc | None, extra: str = "") -> Daemon:
    (work / name).mkdir()
    cfg, listen, api = write_config(work / name, main, honeypot, token=TOKEN)
    text = cfg.read_text().replace("[blacklist]\n", "[blacklist]\non_switch = false\n")
    if redis is not None:
        text += (f'[cluster]\nredis = "{redis.url()}"\nhost = "{name}"\n'
                 "sessions_interval = 0.2\ntimeout = 0.5\nconnect_timeout = 0.5\n" + extra)
    cfg.write_text(text)
    daemon = Daemon(cfg, api)
    daemon.listen = listen  # type: ignore[attr-defined]
    return daemon


def wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def cluster_state(d: Daemon) -> str:
    return str(d.api("GET", "/api/v1/health").get("cluster", {}).get("state"))


def event_times(d: Daemon, event_type: str) -> dict[str, float]:
    """ip -> when the daemon recorded ``event_type`` for it (its first such event)."""
    path = d.config.parent / "log" / "events.jsonl"
    out: dict[str, float] = {}
    for line in path.read_text().splitlines():
        e = json.loads(line)
        if e["event_type"] == event_type and e.get("ip") and e["ip"] not in out:
            out[e["ip"]] = datetime.fromisoformat(e["timestamp"]).timestamp()
    return out


def propagation(a: Daemon, b: Daemon, n: int) -> list[float]:
    ips = [f"198.18.52.{i % 250 + 1}" if i < 250 else f"198.18.53.{i % 250 + 1}" for i in range(n)]
    for ip in ips:
        a.api("POST", "/api/v1/blacklist", {"ip": ip, "reason": "bench"})
        time.sleep(0.02)
    wait(lambda: len(b.api("GET", "/api/v1/blacklist")["blacklist"]) >= n, 10, "B has every entry")
    for d in (a, b):  # the event logs are written by each daemon's writer thread
        wait(lambda d=d: set(ips) <= set(event_times(d, "blacklist_add")), 10, "the events are written")
    sent, got = event_times(a, "blacklist_add"), event_times(b, "blacklist_add")
    return [got[ip] - sent[ip] for ip in ips]


def switches(a: Daemon, b: Daemon, n: int) -> list[float]:
    clients = [socket.create_connection(("127.0.0.1", b.listen), timeout=5) for _ in range(n)]  # type: ignore[attr-defined]
    try:
        for c in clients:
            c.sendall(b"x")
            c.recv(16)
        ids = [s["session_id"] for s in b.api("GET", "/api/v1/sessions")["sessions"]]
        wait(lambda: set(ids) <= {s["session_id"] for s in a.api("GET", "/api/v1/cluster/sessions")["sessions"]},
             10, "A lists B's sessions")
        out = []
        for sid in ids:
            t0 = time.perf_counter()
            answer = a.api("POST", f"/api/v1/sessions/{sid}/switch", {"reason": "bench"})
            out.append(time.perf_counter() - t0)
            assert answer == {"switched": [sid], "host": "b"}, answer
        return out
    finally:
        for c in clients:
            c.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def admission(d: Daemon, n: int) -> dict[str, float]:
    """Sequential connections through ``d``: round-trip figures and CPU per connection."""
    addr = ("127.0.0.1", d.listen)  # type: ignore[attr-defined]
    for _ in range(20):  # warm up
        _one(addr)
    cpu0, times = cpu_seconds(d.proc.pid), []
    for _ in range(n):
        times.append(_one(addr))
    cpu = cpu_seconds(d.proc.pid) - cpu0
    return {**figures(times), "cpu_us": cpu / n * 1e6}


def _one(addr: tuple[str, int]) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(addr, timeout=5) as s:
        s.sendall(b"ping")
        if s.recv(16) != b"M:ping":
            raise RuntimeError("not served by main")
        s.shutdown(socket.SHUT_WR)  # a whole session: the client's EOF, then the server's
        while s.recv(16):
            pass
    return time.perf_counter() - t0


class Churn:
    """The other daemon lists an address every 10 ms while A admits connections."""

    def __init__(self, d: Daemon) -> None:
        self.d, self.stop, self.sent = d, threading.Event(), 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set() and self.sent < 100_000:
            self.d.api("POST", "/api/v1/blacklist", {"ip": f"198.18.54.{self.sent % 250 + 1}",
                                                     "reason": "churn", "ttl": 1 + self.sent})
            self.sent += 1
            time.sleep(0.01)

    def end(self) -> int:
        self.stop.set()
        self.thread.join(10)
        return self.sent


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    redis = RedisProc(work / "redis")
    daemons: list[Daemon] = []
    try:
        with echo_backends() as (main, honeypot):
            try:
                return measure(args, work, redis, lambda name, r: _started(daemons, start(
                    work, name, main.port, honeypot.port, r, args.cluster_keys)))
            finally:
                for d in daemons:  # before the backends go
                    d.stop()
    finally:
        redis.stop()


def _started(daemons: list[Daemon], d: Daemon) -> Daemon:
    daemons.append(d)
    return d


def measure(args: argparse.Namespace, work: Path, redis: RedisProc, daemon: Any) -> dict[str, Any]:
    alone, a, b = daemon("alone", None), daemon("a", redis), daemon("b", redis)
    wait(lambda: cluster_state(a) == cluster_state(b) == "up", 20, "both in contact")
    adm: dict[str, Any] = {"standalone": [], "cluster_idle": [], "cluster": [], "redis_down": []}
    for _ in range(args.rounds):  # alternate: the machine's load changes over a run
        adm["standalone"].append(admission(alone, args.connections))
        adm["cluster_idle"].append(admission(a, args.connections))
        churn = Churn(b)
        adm["cluster"].append(admission(a, args.connections))
        adm["churn_decisions"] = churn.end()
    prop = propagation(a, b, args.decisions)
    sw = switches(a, b, args.switches)
    redis.kill()
    wait(lambda: cluster_state(a) == "down", 10, "A notices the outage")
    for _ in range(args.rounds):
        adm["redis_down"].append(admission(a, args.connections))
    return {"decisions": args.decisions, "connections": args.connections, "rounds": args.rounds,
            "blacklist_ms": figures(prop), "switch_ms": figures(sw),
            "admission": {k: _median(v) if isinstance(v, list) else v for k, v in adm.items()}}


def _median(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def show(r: dict[str, Any]) -> None:
    print(f"propagation, daemon A -> Redis -> daemon B ({r['decisions']} blacklist entries):")
    print(f"  p50 {r['blacklist_ms']['p50']:7.3f} ms   p99 {r['blacklist_ms']['p99']:7.3f} ms")
    print(f"switch asked of A, session on B ({r['switch_ms']['n']} sessions), until A answers:")
    print(f"  p50 {r['switch_ms']['p50']:7.3f} ms   p99 {r['switch_ms']['p99']:7.3f} ms")
    adm = r["admission"]
    base = adm["standalone"]
    print(f"admission: new connection, one line and its reply ({r['connections']} x {r['rounds']} rounds, medians):")
    for key, label in (("standalone", "no [cluster]"), ("cluster_idle", "[cluster], nothing decided elsewhere"),
                       ("cluster", "[cluster], the other host listing"), ("redis_down", "[cluster], Redis down")):
        f = adm[key]
        ratio = "" if key == "standalone" else (
            f"   {f['p50'] / base['p50']:4.2f}x / {f['p99'] / base['p99']:4.2f}x / {f['cpu_us'] / base['cpu_us']:4.2f}x")
        print(f"  {label:36} p50 {f['p50']:6.3f} ms  p99 {f['p99']:6.3f} ms  CPU {f['cpu_us']:6.0f} µs{ratio}")
    print(f"  (ratios: p50 / p99 / CPU against no [cluster]; the other host sent {adm['churn_decisions']} entries)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cluster_daemons", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run: 40 decisions, 10 switches, 300 connections")
    p.add_argument("--decisions", type=int, default=300)
    p.add_argument("--switches", type=int, default=60)
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cluster-keys", default="", help='more [cluster] lines, e.g. "events = false"')
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    args.cluster_keys = args.cluster_keys.replace(";", "\n") + "\n" if args.cluster_keys else ""
    if args.quick:
        args.decisions, args.switches = min(args.decisions, 40), min(args.switches, 10)
        args.connections, args.rounds = min(args.connections, 300), 1
    with tempfile.TemporaryDirectory(prefix="hs-bench-cluster-daemons-") as tmp:
        result = run(args, Path(tmp))
    show(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
