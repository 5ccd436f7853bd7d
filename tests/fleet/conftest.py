"""Fixtures for the cluster sync tests: a real redis-server per test (loopback, its own
directory), and nodes (a FleetSync with its stand-in daemon) started against it."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fleetlab import QUICK, cluster_config, eventually

from honeyswitch.testing import require
from honeyswitch.testing.fleetdaemon import FakeDaemon
from honeyswitch.testing.redisprocs import RedisProc


@pytest.fixture
def redis(tmp_path: Path) -> Any:
    require.program("redis-server")
    server = RedisProc(tmp_path / "redis")
    yield server
    server.stop()


Node = tuple[FakeDaemon, Any]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await node("a", url, **cluster_keys)`` -> (daemon, fleet), started and connected."""
    from honeyswitch.fleet.sync import FleetSync

    started: list[FleetSync] = []

    async def _start(name: str, url: str | list[str], *, wait: bool = True, half_life: float = 600.0,
                     threshold: float = 200.0, **table: Any) -> Node:
        cfg = cluster_config(tmp_path, redis=url, host=name, **{**QUICK, **table})
        daemon = FakeDaemon(name, half_life=half_life, threshold=threshold)
        fleet = FleetSync(cfg, daemon, half_life=half_life)
        daemon.fleet = fleet
        await fleet.start()
        started.append(fleet)
        if wait:
            await eventually(lambda: fleet.state == "up", 10.0, f"{name} connects")
        return daemon, fleet

    yield _start
    for fleet in started:  # a stop that hangs fails the test rather than the run
        await asyncio.wait_for(fleet.stop(drain=0.2), 5.0)
