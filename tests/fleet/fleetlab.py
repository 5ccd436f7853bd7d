"""Helpers of the cluster sync tests (the fixtures are in conftest.py)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honeyswitch.fleet.config import CLUSTER, ClusterConfig, read_cluster
from honeyswitch.schema import read

# Short timeouts: an outage is noticed (and a listing refreshed) within a second here.
QUICK = {"timeout": 0.5, "connect_timeout": 0.5, "sessions_interval": 0.2, "request_timeout": 2.0}


def cluster_config(base: Path, **table: Any) -> ClusterConfig:
    cfg = read_cluster(read(CLUSTER, table, "test.toml", "cluster", base))
    assert cfg is not None
    return cfg


async def eventually(pred: Callable[[], Any], timeout: float = 1.0, what: str = "") -> float:
    """Wait until ``pred()`` is true; returns how long it took (fails after ``timeout``)."""
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what or pred}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


class LagProbe:
    """How late the event loop runs a 10 ms timer, at worst: a component that waited on
    Redis in the loop's thread would show here."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.monotonic() - start - 0.01)

    def __enter__(self) -> LagProbe:
        from honeyswitch import tasks

        self._task = tasks.spawn(self._run(), "test:lag-probe")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def decisions_and_a_switch_cross(a: Any, fa: Any, b: Any, fb: Any, net: str) -> None:
    """What every deployment must carry between nodes a and b: a blacklist entry, a
    score share, and a switch asked of b by a (``net``: three octets to use)."""
    from honeyswitch.fleet.model import SwitchTarget

    a.list_ip(f"{net}.1", "listed on a")
    b.alert(f"{net}.2", 70)
    b.open_session(f"s-{net}", f"{net}.3")
    await eventually(lambda: b.is_listed(f"{net}.1") and a.source_score(f"{net}.2") > 69, 1.0,
                     "decisions cross")
    result = await fa.request_switch("b", SwitchTarget(session_id=f"s-{net}"), "operator", "")
    assert result.status == "switched" and b.sessions[f"s-{net}"]["state"] == "honeypot"
    for f in (fa, fb):
        assert f.stats()["counters"].get("redis_errors", 0) == 0, f.health()["last_error"]
