"""Micro-benchmark of ``[cluster]``: decision propagation between two hosts through a
real redis-server, and what the local copy means for admission.

    python -m bench.cluster_sync [--quick] [--decisions 400] [--lookups 200000]

- **propagation**: node A decides (a blacklist entry; a score share), node B's daemon
  has it applied; one decision at a time, so each figure is one trip A -> Redis (one
  Lua call) -> B's blocking stream read -> B's daemon.  Both nodes run in this process,
  on one uvloop (as the workers of two hosts would not: the figures include one loop's
  scheduling, not two machines' network).
- **admission**: ``Blacklist.is_listed`` (honeyswitch's own, over SQLite) for a mix of
  listed and unlisted addresses, (1) with no cluster, (2) on node A while B keeps
  sending it new entries, and (3) asking Redis for each admission instead of the local
  copy (what a design without one would cost; ``EXISTS`` per connection).

Prints p50/p99 and the ratios; ``--json FILE`` also writes them.  Not a test, and not
for a busy machine's figures: compare ratios within one run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from honeyswitch.config import BlacklistConfig
from honeyswitch.fleet.config import CLUSTER, read_cluster
from honeyswitch.fleet.model import BlacklistEntry, SourceShare
from honeyswitch.fleet.sync import FleetSync
from honeyswitch.schema import read
from honeyswitch.store.blacklist import Blacklist
from honeyswitch.store.db import Store
from honeyswitch.testing.fleetdaemon import FakeDaemon
from honeyswitch.testing.redisprocs import RedisProc


class BenchDaemon(FakeDaemon):
    """The stand-in daemon with honeyswitch's real Blacklist as its local copy, and a
    hook that tells the benchmark when a remote decision was applied."""

    def __init__(self, name: str, store: Store) -> None:
        super().__init__(name, threshold=0)
        self.bl = Blacklist(store, BlacklistConfig(ttl=3600))
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def is_listed(self, ip: str) -> bool:
        return self.bl.is_listed(ip)

    def _merge(self, entry: BlacklistEntry) -> BlacklistEntry | None:
        ttl = 0.0 if entry.expires is None else max(entry.expires - time.time(), 0.001)
        return entry if self.bl.add(entry.ip, entry.reason, by=entry.by, ttl=ttl) else None

    def apply_blacklist(self, entry: BlacklistEntry) -> None:
        self._merge(entry)
        self._arrived(entry.ip)

    def blacklist_entries(self) -> list[BlacklistEntry]:
        return [BlacklistEntry(e["ip"], e["reason"], e["by"], e["added"], e["expires"], e["added"])
                for e in self.bl.entries()]

    def remote_score(self, ip: str, score: float, at: float) -> None:
        super().remote_score(ip, score, at)
        self._arrived(ip)

    def _arrived(self, ip: str) -> None:
        future = self.waiting.pop(ip, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def propagation(a: BenchDaemon, fa: FleetSync, b: BenchDaemon, n: int, kind: str) -> list[float]:
    out = []
    loop = asyncio.get_running_loop()
    for i in range(n):
        ip = f"10.{1 if kind == 'blacklist' else 2}.{i // 250}.{i % 250 + 1}"
        b.waiting[ip] = loop.create_future()
        start = time.perf_counter()
        if kind == "blacklist":
            a.list_ip(ip, "bench")
        else:
            fa.publish_share(SourceShare(ip, 10.0, time.time()))
        arrived = await asyncio.wait_for(b.waiting[ip], 5.0)
        out.append(arrived - start)
    return out


def lookups(bl: Blacklist, ips: list[str]) -> float:
    """Seconds for one is_listed per address."""
    start = time.perf_counter()
    for ip in ips:
        bl.is_listed(ip)
    return time.perf_counter() - start


async def admission(a: BenchDaemon, b: BenchDaemon, standalone: Blacklist, fa: FleetSync,
                    n: int) -> dict[str, float]:
    listed = [e["ip"] for e in a.bl.entries()]
    ips = [listed[i % len(listed)] if i % 2 else f"172.16.{i % 200}.{i % 250}" for i in range(n)]
    assert sum(a.bl.is_listed(ip) for ip in ips) == n // 2
    chunk = 1000
    alone = sum(lookups(standalone, ips[i:i + chunk]) for i in range(0, n, chunk))
    busy, sent = 0.0, 0
    for i in range(0, n, chunk):  # B keeps deciding while A admits
        b.list_ip(f"10.3.{sent // 250 % 250}.{sent % 250 + 1}", "churn")
        sent += 1
        busy += lookups(a.bl, ips[i:i + chunk])
        await asyncio.sleep(0)  # the component gets its turn between chunks
    cmd = fa._open().clients.cmd
    m = max(n // 100, 50)
    start = time.perf_counter()
    for ip in ips[:m]:
        await cmd.exists(fa.keys.entry(ip))
    redis_each = (time.perf_counter() - start) / m
    return {"local_ns": alone / n * 1e9, "with_cluster_ns": busy / n * 1e9, "redis_us": redis_each * 1e6,
            "churn_decisions": sent}


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    server = RedisProc(work / "redis")
    stores = [Store(work / f"{n}.db") for n in ("a", "b", "alone")]
    fleets: list[FleetSync] = []
    try:
        daemons = []
        for name, store in zip(("a", "b"), stores, strict=False):
            table = {"redis": server.url(), "host": name, "timeout": 1.0, "events": False}
            cfg = read_cluster(read(CLUSTER, table, "bench", "cluster", work))
            assert cfg is not None
            d = BenchDaemon(name, store)
            f = FleetSync(cfg, d, half_life=600.0)
            d.fleet = f
            await f.start()
            daemons.append(d)
            fleets.append(f)
        while not all(f.state == "up" for f in fleets):
            await asyncio.sleep(0.01)
        (a, b), (fa, _) = daemons, fleets
        bl_lat = await propagation(a, fa, b, args.decisions, "blacklist")
        sc_lat = await propagation(a, fa, b, args.decisions, "score")
        standalone = Blacklist(stores[2], BlacklistConfig(ttl=3600))
        for e in a.bl.entries():
            standalone.add(e["ip"], "copy", by="bench")
        adm = await admission(a, b, standalone, fa, args.lookups)
        return {"decisions": args.decisions, "lookups": args.lookups,
                "blacklist_ms": {"p50": pct(bl_lat, 50) * 1e3, "p99": pct(bl_lat, 99) * 1e3},
                "score_ms": {"p50": pct(sc_lat, 50) * 1e3, "p99": pct(sc_lat, 99) * 1e3},
                "admission": adm}
    finally:
        for f in fleets:
            await f.stop(drain=0.5)
        for s in stores:
            s.close()
        server.stop()


def show(r: dict[str, Any]) -> None:
    adm = r["admission"]
    print(f"propagation A -> Redis -> B ({r['decisions']} decisions each, one at a time):")
    for kind in ("blacklist", "score"):
        ms = r[f"{kind}_ms"]
        print(f"  {kind:9}  p50 {ms['p50']:7.3f} ms   p99 {ms['p99']:7.3f} ms")
    print(f"admission lookups ({r['lookups']}, half of them listed):")
    print(f"  local copy, no cluster        {adm['local_ns']:8.1f} ns")
    print(f"  local copy, cluster syncing   {adm['with_cluster_ns']:8.1f} ns   "
          f"{adm['with_cluster_ns'] / adm['local_ns']:5.2f}x no cluster")
    print(f"  ask Redis for each admission  {adm['redis_us'] * 1e3:8.1f} ns   "
          f"{adm['redis_us'] * 1e3 / adm['local_ns']:5.0f}x the local copy")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cluster_sync", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few seconds: 40 decisions, 20,000 lookups")
    p.add_argument("--decisions", type=int, default=400)
    p.add_argument("--lookups", type=int, default=200_000)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.quick:
        args.decisions, args.lookups = min(args.decisions, 40), min(args.lookups, 20_000)
    import uvloop

    with tempfile.TemporaryDirectory(prefix="hs-bench-cluster-") as tmp:
        result = uvloop.run(run(args, Path(tmp)))
    show(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
