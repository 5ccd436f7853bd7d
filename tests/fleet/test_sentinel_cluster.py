"""Sentinel and Redis Cluster addresses, against real ones: a redis-sentinel (Debian's
redis-sentinel) watching a master and its replica, and three redis-server masters in
cluster mode."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from fleetlab import decisions_and_a_switch_cross, eventually

from honeyswitch.testing import require
from honeyswitch.testing.redisprocs import RedisClusterProcs, RedisProc, SentinelProc, make_tls


def _answer(server: RedisProc, *args: str) -> str:
    """redis-cli's answer, or "" while the server is busy being reconfigured."""
    try:
        return server.cli(*args)
    except subprocess.SubprocessError:
        return ""


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


async def sentinel_nodes(watcher: SentinelProc, node: Any) -> tuple[Any, Any, Any, Any]:
    url = f"redis://127.0.0.1:{watcher.port}"
    (a, fa), (b, fb) = [await node(n, url, mode="sentinel", sentinel_service="hsmaster") for n in "ab"]
    return a, fa, b, fb


async def test_sentinel_addresses(sentinel: Any, node: Any) -> None:
    master, replica, watcher = sentinel
    await decisions_and_a_switch_cross(*await sentinel_nodes(watcher, node), "198.51.101")
    assert "198.51.101.1" in master.cli("--raw", "hget", "{honeyswitch}:bl:198.51.101.1", "ip")


@pytest.mark.slow
async def test_sentinel_failover_keeps_the_cluster_going(sentinel: Any, node: Any) -> None:
    master, replica, watcher = sentinel
    a, fa, b, fb = await sentinel_nodes(watcher, node)
    a.list_ip("198.51.100.51", "before the failover")
    await eventually(lambda: b.is_listed("198.51.100.51"), 1.0)
    await eventually(lambda: "198.51.100.51" in _answer(replica, "--raw", "keys", "*"), 2.0, "replicated")
    master.kill()  # sentinel promotes the replica (down after 500 ms)
    a.list_ip("198.51.100.52", "during the failover")
    await eventually(lambda: "role:master" in _answer(replica, "info", "replication"), 15.0, "the replica is promoted")
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
    a, fa = await node("a", redis_cluster.urls[:2], mode="cluster")
    b, fb = await node("b", redis_cluster.urls[2:], mode="cluster")
    await decisions_and_a_switch_cross(a, fa, b, fb, "198.51.102")


async def test_redis_cluster_over_tls(tmp_path: Path, node: Any) -> None:
    require.program("redis-server")
    require.program("openssl")
    tls = make_tls(tmp_path / "tls")
    procs = RedisClusterProcs(tmp_path / "tls-cluster", 3, tls=tls)
    try:
        a, fa = await node("a", procs.urls[:1], mode="cluster", tls_ca=str(tls.ca))
        b, fb = await node("b", procs.urls[1:], mode="cluster", tls_ca=str(tls.ca))
        await decisions_and_a_switch_cross(a, fa, b, fb, "198.51.103")
    finally:
        procs.stop()
