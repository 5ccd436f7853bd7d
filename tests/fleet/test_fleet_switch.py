"""Switch requests between hosts, and the cluster's session list, through a real Redis."""
from __future__ import annotations

import asyncio
from typing import Any

from fleetlab import eventually

from honeyswitch.fleet.model import SwitchTarget


async def test_a_switch_asked_of_a_lands_on_the_session_held_by_b(redis: Any, node: Any) -> None:
    a, fa = await node("a", redis.url())
    b, fb = await node("b", redis.url())
    b.open_session("5e55b0000001", "198.51.100.20")
    result = await fa.request_switch("b", SwitchTarget(session_id="5e55b0000001"), "operator", "manual")
    assert (result.node, result.status, result.sessions) == ("b", "switched", ("5e55b0000001",))
    assert b.sessions["5e55b0000001"]["state"] == "honeypot"
    (event,) = [e for e in b.events if e["event_type"] == "cluster_switch"]
    assert (event["requester"], event["session_id"], event["result"], event["by"]) == \
        ("a", "5e55b0000001", "switched", "operator")
    missing = await fa.request_switch("b", SwitchTarget(session_id="0000"), "operator", "manual")
    assert missing.status == "not_found"


async def test_switch_anywhere_finds_the_session_and_every_client_session(redis: Any, node: Any) -> None:
    (a, fa), (b, _), (c, _) = [await node(n, redis.url()) for n in ("a", "b", "c")]
    b.open_session("b-1", "198.51.100.30")
    c.open_session("c-1", "198.51.100.30")
    c.open_session("c-2", "198.51.100.31")
    await asyncio.sleep(0.5)  # a listing or two (sessions_interval 0.2 s)
    (one,) = await fa.switch_anywhere(SwitchTarget(session_id="c-2"), "operator", "manual")
    assert (one.node, one.status) == ("c", "switched")
    results = await fa.switch_anywhere(SwitchTarget(client="198.51.100.30"), "operator", "manual")
    assert {(r.node, r.status, r.sessions) for r in results} == {
        ("a", "not_found", ()), ("b", "switched", ("b-1",)), ("c", "switched", ("c-1",))}


async def test_cluster_sessions_lists_every_host(redis: Any, node: Any) -> None:
    a, fa = await node("a", redis.url())
    b, fb = await node("b", redis.url())
    a.open_session("a-1", "192.0.2.1")
    b.open_session("b-1", "192.0.2.2", score=30)
    await eventually(lambda: fb.stats()["counters"].get("reconnects"), 1.0)
    await asyncio.sleep(0.5)
    view = await fa.cluster_sessions()
    assert {(s["host"], s["session_id"]) for s in view["sessions"]} == {("a", "a-1"), ("b", "b-1")}
    assert view["hosts"]["b"]["live"] and view["hosts"]["b"]["total"] == 1 and view["redis"] == "up"
    await fb.stop()  # leaves the roster at once
    view = await fa.cluster_sessions()
    assert set(view["hosts"]) == {"a"}


async def test_a_request_to_a_host_that_is_not_live_fails_fast(redis: Any, node: Any) -> None:
    _, fa = await node("a", redis.url())
    result = await asyncio.wait_for(fa.request_switch("nobody", SwitchTarget(client="192.0.2.3"), "operator", ""), 1.0)
    assert result.status == "unreachable"


async def test_a_request_that_arrives_after_its_deadline_is_not_carried_out(redis: Any, node: Any) -> None:
    import time

    from redis.asyncio import Redis

    from honeyswitch.fleet.keys import Keys
    from honeyswitch.fleet.model import SwitchResult

    b, fb = await node("b", redis.url())
    b.open_session("late-1", "192.0.2.4")
    keys, raw = Keys("honeyswitch"), Redis.from_url(redis.url())
    try:  # a request from a host whose deadline passed while it sat in a queue
        await raw.xadd(keys.commands("b"), {"id": "r1", "from": "x", "by": "operator", "reason": "late",
                                             "session_id": "late-1", "deadline": repr(time.time() - 1)})
        await eventually(lambda: "cluster_switch" in b.types(), 1.0, "b answers")
        reply = await raw.xrange(keys.replies("x"))
        assert SwitchResult.from_wire(reply[0][1][b"r"]).status == "expired"
        assert b.sessions["late-1"]["state"] == "mirror"
        assert b.events[-1]["result"] == "expired"
    finally:
        await raw.aclose()
