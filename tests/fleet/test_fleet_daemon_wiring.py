"""The cluster sync wired into the daemon: two real honeyswitch Apps (one event loop,
their own stores, listeners and control APIs on loopback) and a real redis-server.

The tests that run each host as its own process in its own network namespace are in
test_hosts_netns.py; these check the wiring piece by piece, quickly."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fleetlab import QUICK, eventually
from prometheus_client.parser import text_string_to_metric_families

from honeyswitch.api.server import bound_address
from honeyswitch.app import App
from honeyswitch.events import make_event
from honeyswitch.testing import grafana, servers
from honeyswitch.testing.harness import EventCapture, connect, make_config, session_of

Host = tuple[App, EventCapture, aiohttp.ClientSession]


@contextlib.asynccontextmanager
async def host(tmp: Path, name: str, redis_url: str, main: Any, honeypot: Any,
               **sections: Any) -> AsyncIterator[Host]:
    cfg = make_config(tmp / name, [{"name": "echo", "main": main.url, "honeypot": honeypot.url}],
                      cluster={"redis": redis_url, "host": name, **QUICK}, **sections)
    app = App(cfg)
    events = EventCapture(app)
    await app.start()
    try:
        await eventually(lambda: app.fleet is not None and app.fleet.health()["state"] == "up", 10, f"{name} up")
        h, p = bound_address(app.api)
        async with aiohttp.ClientSession(base_url=f"http://{h}:{p}",
                                         headers={"Authorization": "Bearer test-token"}) as http:
            yield app, events, http
    finally:
        await app.stop()


@pytest.fixture
async def pair(tmp_path: Path, redis: Any, make_server: Any) -> AsyncIterator[tuple[Host, Host]]:
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    scoring = {"blacklist_threshold": 200}
    async with host(tmp_path, "a", redis.url(), main, honeypot, scoring=scoring) as a, \
            host(tmp_path, "b", redis.url(), main, honeypot, scoring=scoring) as b:
        yield a, b


def alert(app: App, ip: str, score: float) -> None:
    """An alert for source ``ip`` as a detector of ``app`` would raise it."""
    app.emit("alert", None, {"src_ip": ip, "detector": "test", "score": score, "reason": "test alert"})


async def get(http: aiohttp.ClientSession, path: str) -> Any:
    async with http.get(path) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_an_entry_listed_through_one_api_reaches_the_other_with_its_origin(pair: Any) -> None:
    (a, _, http_a), (b, events_b, _) = pair
    async with http_a.post("/api/v1/blacklist", json={"ip": "198.18.48.9", "reason": "seen"}) as resp:
        assert resp.status == 200
    assert b.blacklist is not None
    took = await eventually(lambda: b.blacklist.is_listed("198.18.48.9"), 1.0, "b lists it")  # type: ignore[union-attr]
    assert took < 1.0
    added = await events_b.wait_for("blacklist_add", ip="198.18.48.9")
    assert (added["by"], added["origin"], added["reason"]) == ("operator@a", "a", "seen")
    async with http_a.delete("/api/v1/blacklist/198.18.48.9") as resp:
        assert resp.status == 200
    await eventually(lambda: not b.blacklist.is_listed("198.18.48.9"), 1.0, "b unlists it")  # type: ignore[union-attr]
    assert (await events_b.wait_for("blacklist_remove", ip="198.18.48.9"))["by"] == "operator@a"


async def test_scores_from_two_hosts_add_up_to_one_blacklisting(pair: Any) -> None:
    (a, events_a, http_a), (b, events_b, _) = pair
    alert(a, "198.18.48.20", 120)
    assert a.fleet is not None and b.fleet is not None
    await eventually(lambda: b.fleet.remote_score("198.18.48.20", time.time()) > 119, 1.0)  # type: ignore[union-attr]
    assert b.blacklist is not None and not b.blacklist.is_listed("198.18.48.20")
    alert(b, "198.18.48.20", 100)  # 120 + 100 >= 200
    listed = await events_b.wait_for("blacklist_add", ip="198.18.48.20")
    assert listed["by"] == "scoring" and listed["origin"] is None
    await eventually(lambda: a.blacklist.is_listed("198.18.48.20"), 1.0, "a follows")  # type: ignore[union-attr]
    assert (await events_a.wait_for("blacklist_add", ip="198.18.48.20"))["origin"] == "b"
    sources = (await get(http_a, "/api/v1/sources"))["sources"]
    row = next(r for r in sources if r["src_ip"] == "198.18.48.20")
    assert row["local"] == pytest.approx(120, abs=1) and row["score"] == pytest.approx(220, abs=1)
    assert set(row["nodes"]) == {"b"} and row["incident"]["alerts"] == 1


async def test_a_switch_asked_of_one_lands_on_the_session_the_other_holds(pair: Any) -> None:
    (a, _, http_a), (b, events_b, _) = pair
    reader, writer = await connect(b)
    writer.write(b"x")
    assert await reader.readexactly(3) == b"M:x"
    sid = await session_of(b, writer)
    listed: list[Any] = []

    async def listed_on_a() -> bool:
        listed[:] = (await get(http_a, "/api/v1/cluster/sessions"))["sessions"]
        return any(s["session_id"] == sid for s in listed)
    for _ in range(50):  # b's listing reaches Redis within its sessions_interval
        if await listed_on_a():
            break
        await asyncio.sleep(0.05)
    row = next(s for s in listed if s["session_id"] == sid)
    assert (row["host"], row["node"], row["state"]) == ("b", "b", "mirror")
    async with http_a.post(f"/api/v1/sessions/{sid}/switch", json={"reason": "from a"}) as resp:
        assert resp.status == 200 and await resp.json() == {"switched": [sid], "host": "b"}
    writer.write(b"y")
    assert await reader.readexactly(3) == b"H:y"
    served = await events_b.wait_for("cluster_switch")
    assert (served["requester"], served["result"], served["sessions"]) == ("a", "switched", [sid])
    async with http_a.post("/api/v1/sessions/nosuchsession/switch", json={}) as resp:
        assert resp.status == 404 and "any host" in (await resp.json())["error"]
    writer.close()


async def test_health_metrics_and_the_event_stream_show_the_cluster(pair: Any) -> None:
    (a, _, http_a), (b, _, _) = pair
    health = await get(http_a, "/api/v1/health")
    assert health["cluster"]["state"] == "up" and set(health["cluster"]["nodes"]) == {"a"}
    async with http_a.get("/metrics") as resp:
        text = await resp.text()
    assert "honeyswitch_cluster_up 1.0" in text
    names = {f.name + suffix for f in text_string_to_metric_families(text) for suffix in ("", "_total")}
    assert set(grafana.metrics(cluster=True)) <= names, set(grafana.metrics(cluster=True)) - names  # its panels
    b.record(make_event("listener_error", None, listen="198.18.48.1:1", error="test"))
    async with http_a.get("/api/v1/stream?cluster=1&since=0") as resp:  # from the stream's start
        assert resp.status == 200
        for _ in range(500):
            event = json.loads(await asyncio.wait_for(resp.content.readline(), 5))
            if event["event_type"] == "listener_error":
                break
        assert event["host"] == "b" and event["listen"] == "198.18.48.1:1"


async def test_without_redis_a_switch_elsewhere_says_it_cannot_ask(pair: Any, redis: Any) -> None:
    (a, _, http_a), _ = pair
    redis.kill()
    await eventually(lambda: a.fleet is not None and a.fleet.health()["state"] == "down", 5, "a notices")
    async with http_a.post("/api/v1/sessions/elsewhere1234/switch", json={}) as resp:
        assert resp.status == 503 and "Redis is down" in (await resp.json())["error"]
    async with http_a.post("/api/v1/switch", json={"client": "198.18.48.30"}) as resp:
        assert resp.status == 200 and await resp.json() == {
            "switched": [], "hosts": {"a": "not_found", "*": "unreachable"}}
    health = await get(http_a, "/api/v1/health")
    assert health["cluster"]["state"] == "down" and health["status"] == "ok"


async def test_a_hung_redis_holds_up_neither_sessions_nor_the_api(pair: Any, redis: Any) -> None:
    (a, events_a, http_a), (b, _, _) = pair
    redis.pause()  # accepts connections, answers nothing
    try:
        for i in range(5):  # sessions start, are served and blacklist as usual meanwhile
            started = time.monotonic()
            reader, writer = await connect(a)
            writer.write(b"q%d" % i)
            assert await asyncio.wait_for(reader.readexactly(4), 2) == b"M:q%d" % i
            writer.close()
            assert time.monotonic() - started < 0.5
        async with http_a.post("/api/v1/blacklist", json={"ip": "198.18.48.40", "reason": "while hung"}) as resp:
            assert resp.status == 200
        await eventually(lambda: a.fleet.health()["state"] == "down", 3, "a notices the hang")  # type: ignore[union-attr]
        started = time.monotonic()
        assert (await get(http_a, "/api/v1/health"))["cluster"]["state"] == "down"
        async with http_a.get("/api/v1/cluster/sessions") as resp:
            view = await resp.json()
        assert time.monotonic() - started < 1.0 and view["redis"] == "down"  # the last listings, at once
    finally:
        redis.resume()
    await eventually(lambda: b.blacklist.is_listed("198.18.48.40"), 10, "b gets it after the hang")  # type: ignore[union-attr]
    assert len(events_a.of_type("cluster_down")) == 1
