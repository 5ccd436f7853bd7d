"""Redis killed, hung or absent: every host goes on with its local state, says so, and
catches up when Redis is back; what was decided meanwhile reaches the others."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fleetlab import LagProbe, eventually

from honeyswitch.testing.redisprocs import RedisProc


def _publish_quickly(fn: Any, *args: Any) -> None:
    start = time.monotonic()
    fn(*args)
    assert time.monotonic() - start < 0.005, "a decision waited for Redis"


async def test_redis_killed_and_restarted_mid_test(redis: RedisProc, node: Any) -> None:
    a, fa = await node("a", redis.url())
    b, fb = await node("b", redis.url())
    a.list_ip("198.51.100.1", "before")
    b.open_session("out-1", "198.51.100.9")
    await eventually(lambda: b.is_listed("198.51.100.1"), 1.0, "b has a's entry")
    with LagProbe() as probe:
        redis.kill()
        _publish_quickly(a.list_ip, "198.51.100.2", "meanwhile on a")
        _publish_quickly(a.alert, "198.51.100.3", 50)
        _publish_quickly(b.unlist_ip, "198.51.100.1")
        await eventually(lambda: fa.state == fb.state == "down", 3.0, "both notice")
        assert a.is_listed("198.51.100.2") and not b.is_listed("198.51.100.1")  # local state goes on
        assert fa.health()["outbox"] >= 2 and fa.health()["last_error"]
        down = [e for e in a.events if e["event_type"] == "cluster_down"]
        assert len(down) == 1 and down[0]["redis"] == redis.url()
        redis.restart()  # empty: no persistence
        await eventually(lambda: b.is_listed("198.51.100.2") and not a.is_listed("198.51.100.1")
                         and b.source_score("198.51.100.3") > 49, 5.0, "the outage's decisions arrive")
        await eventually(lambda: fa.state == fb.state == "up", 5.0, "both are back")
    assert probe.worst < 0.25, f"the event loop stalled {probe.worst:.3f}s"
    up = [e for e in a.events if e["event_type"] == "cluster_up"]
    # up[0]: the first contact; up[1]: back after the restart (a loaded machine may add more)
    assert up[1]["data_lost"] is True and up[1]["down_for"] > 0 and up[1]["replayed"] >= 2, \
        [(e["event_type"], e.get("data_lost"), e.get("replayed"), e.get("error")) for e in a.events]
    assert fa.health()["state"] == "up" and fa.health()["outbox"] == 0
    a.list_ip("198.51.100.4", "after")  # and it goes on as before
    await eventually(lambda: b.is_listed("198.51.100.4"), 1.0, "b gets a's next entry")
    await asyncio.sleep(0.5)  # b's listing is written again into the empty Redis
    view = await fa.cluster_sessions()
    assert [s["session_id"] for s in view["sessions"] if s["host"] == "b"] == ["out-1"]


async def test_redis_hung_is_an_outage_too(redis: RedisProc, node: Any) -> None:
    a, fa = await node("a", redis.url())
    b, fb = await node("b", redis.url())
    with LagProbe() as probe:
        redis.pause()
        _publish_quickly(a.list_ip, "198.51.100.5", "while hung")
        await eventually(lambda: fa.state == "down", 3.0, "a notices the hang")
        assert a.is_listed("198.51.100.5")
        redis.resume()
        await eventually(lambda: b.is_listed("198.51.100.5"), 5.0, "b gets it after the hang")
        await eventually(lambda: fa.state == "up", 5.0, "a is back")
    assert probe.worst < 0.25, f"the event loop stalled {probe.worst:.3f}s"
    up = [e for e in a.events if e["event_type"] == "cluster_up"]
    assert up[1]["data_lost"] is False


async def test_redis_absent_at_start(tmp_path: Path, node: Any) -> None:
    from honeyswitch.testing.procs import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    a, fa = await node("a", url, wait=False)
    await eventually(lambda: fa.state == "down", 3.0, "a says Redis is down")
    a.list_ip("198.51.100.6", "offline")
    assert a.is_listed("198.51.100.6")
    server = RedisProc(tmp_path / "late-redis", port=port)
    try:
        b, _ = await node("b", url)
        await eventually(lambda: b.is_listed("198.51.100.6"), 5.0, "b gets what a decided offline")
    finally:
        server.stop()


@pytest.mark.slow
async def test_outbox_bound_evicts_adds_and_drops_removals_past_it(redis: RedisProc, node: Any) -> None:
    a, fa = await node("a", redis.url(), outbox=100)
    b, fb = await node("b", redis.url())
    ips = [f"10.9.{i // 250}.{i % 250 + 1}" for i in range(150)]
    redis.pause()
    for ip in ips:  # 150 adds into an outbox of 100: 50 evicted, restored at the reconnect
        a.list_ip(ip, "many")
    await eventually(lambda: fa.state == "down", 3.0)
    assert fa.health()["outbox"] == 100 and fa.health()["outbox_evicted"] == 50
    redis.resume()
    await eventually(lambda: all(b.is_listed(ip) for ip in ips), 5.0, "b has all 150")
    await eventually(lambda: fa.state == "up", 5.0, "a has caught up")
    redis.pause()
    for ip in ips:  # 150 removals: the 50 oldest are dropped (the documented loss)
        a.unlist_ip(ip)
    await eventually(lambda: fa.state == "down", 3.0)
    assert fa.health()["outbox_dropped"] == 50
    redis.resume()
    await eventually(lambda: sum(b.is_listed(ip) for ip in ips) == 50, 5.0, "b keeps only the dropped 50")
    assert {ip for ip in ips if b.is_listed(ip)} == set(ips[:50])
    await eventually(lambda: {ip for ip in ips if a.is_listed(ip)} == set(ips[:50]), 5.0,
                     "a gets the dropped 50 back from the cluster")
    # reported by the catch-up after the removals (which may still be finishing)
    await eventually(lambda: [e["dropped"] for e in a.events if e["event_type"] == "cluster_up"][-1:] == [50], 5.0,
                     "a's cluster_up says 50 removals were lost")
