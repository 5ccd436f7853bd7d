"""Sentinel and Redis Cluster addresses, against real ones: a redis-sentinel (Debian's
redis-sentinel) watching a master and its replica, and three redis-server masters in
cluster mode."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fleetlab import eventually

from honeyswitch.testing import require
from honeyswitch.testing.redisprocs import RedisClusterProcs, RedisProc, SentinelProc


@pytest.fixture
def sentinel(tmp_path: Path) -> Any:
    require.program("redis-server")
    require.program("redis-sentinel")
    master = RedisProc(tmp_path / "master", extra=("--repl-diskless-sync-delay", "0"))
    replica = RedisProc(tmp_path / "replica", extra=("--replicaof", "127.0.0.1", str(master.port)))
    watcher = SentinelProc(tmp_path / "sentinel", master.port, "hsmaster")
    yield master, replica, watcher
    for p in (watcher, replica, master):
        p.stop()


async def test_sentinel_addresses(sentinel: Any, node: Any) -> None:
    master, replica, watcher = sentinel
    url = f"redis://127.0.0.1:{watcher.port}"
    a, _ = await node("a", url, mode="sentinel", sentinel_service="hsmaster")
    b, _ = await node("b", url, mode="sentinel", sentinel_service="hsmaster")
    a.list_ip("198.51.100.50", "through sentinel")
    await eventually(lambda: b.is_listed("198.51.100.50"), 1.0, "b gets it through the master")
    assert "198.51.100.50" in master.cli("--raw", "hget", "{honeyswitch}:bl:198.51.100.50", "ip")


@pytest.mark.slow
async def test_sentinel_failover_keeps_the_cluster_going(sentinel: Any, node: Any) -> None:
    master, replica, watcher = sentinel
    url = f"redis://127.0.0.1:{watcher.port}"
    a, fa = await node("a", url, mode="sentinel", sentinel_service="hsmaster")
    b, fb = await node("b", url, mode="sentinel", sentinel_service="hsmaster")
    a.list_ip("198.51.100.51", "before the failover")
    await eventually(lambda: b.is_listed("198.51.100.51"), 1.0)
    await eventually(lambda: "198.51.100.51" in replica.cli("--raw", "keys", "*"), 2.0, "replicated")
    master.kill()  # sentinel promotes the replica (down after 500 ms)
    a.list_ip("198.51.100.52", "during the failover")
    await eventually(lambda: "role:master" in replica.cli("info", "replication"), 15.0, "the replica is promoted")
    await eventually(lambda: b.is_listed("198.51.100.52") and fa.state == fb.state == "up", 10.0,
                     "b gets what a decided during the failover")
    assert b.is_listed("198.51.100.51")  # the promoted replica had it


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Any:
    require.program("redis-server")
    require.program("redis-cli")
    procs = RedisClusterProcs(tmp_path / "cluster", 3)
    yield procs
    procs.stop()


async def test_redis_cluster_addresses(redis_cluster: RedisClusterProcs, node: Any) -> None:
    from honeyswitch.fleet.model import SwitchTarget

    a, fa = await node("a", redis_cluster.urls[:2], mode="cluster")
    b, fb = await node("b", redis_cluster.urls[2:], mode="cluster")
    a.list_ip("198.51.100.60", "through the cluster")
    b.alert("198.51.100.61", 70)
    b.open_session("cl-1", "198.51.100.62")
    await eventually(lambda: b.is_listed("198.51.100.60") and a.source_score("198.51.100.61") > 69, 1.0,
                     "decisions cross the cluster")
    result = await fa.request_switch("b", SwitchTarget(session_id="cl-1"), "operator", "cluster")
    assert result.status == "switched"
    assert fa.stats()["counters"].get("redis_errors", 0) == 0, fa.health()["last_error"]
