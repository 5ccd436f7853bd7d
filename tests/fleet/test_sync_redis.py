"""Two and three hosts sharing one real redis-server: blacklist, scores, incidents."""
from __future__ import annotations

from typing import Any

import pytest
from fleetlab import eventually


async def test_two_nodes_see_each_others_blacklist_within_a_second(redis: Any, node: Any) -> None:
    a, fa = await node("a", redis.url())
    b, fb = await node("b", redis.url())
    a.list_ip("198.51.100.7", "manual")
    took = await eventually(lambda: b.is_listed("198.51.100.7"), 1.0, "b lists what a listed")
    assert took < 1.0
    entry = b.blacklist["198.51.100.7"]
    assert (entry.origin, entry.reason, entry.by) == ("a", "manual", "operator")
    b.unlist_ip("198.51.100.7")
    await eventually(lambda: not a.is_listed("198.51.100.7"), 1.0, "a unlists what b unlisted")
    assert fa.health()["state"] == fb.health()["state"] == "up"


async def test_three_nodes_share_the_blacklist_and_its_expiry(redis: Any, node: Any) -> None:
    nodes = [await node(n, redis.url()) for n in ("a", "b", "c")]
    (a, _), (b, _), (c, _) = nodes
    a.list_ip("203.0.113.1", "from a", ttl=60)
    c.list_ip("203.0.113.3", "from c", ttl=0)  # until removed
    for d in (a, b, c):
        await eventually(lambda d=d: d.is_listed("203.0.113.1") and d.is_listed("203.0.113.3"), 1.0,
                         f"{d.name} has both entries")
    assert b.blacklist["203.0.113.3"].expires is None
    # b refreshes a's entry for longer: the expiry moves later everywhere, never earlier
    b.list_ip("203.0.113.1", "again from b", ttl=600)
    await eventually(lambda: (a.blacklist["203.0.113.1"].expires or 0) > a.clock() + 500, 1.0, "a gets the later expiry")
    a.list_ip("203.0.113.1", "shorter", ttl=10)  # an earlier expiry changes nothing
    await eventually(lambda: c.blacklist["203.0.113.1"].expires is not None
                     and c.blacklist["203.0.113.1"].expires > c.clock() + 500, 1.0, "c keeps the later expiry")


async def test_scores_from_two_hosts_add_up_to_one_blacklisting(redis: Any, node: Any) -> None:
    a, fa = await node("a", redis.url(), threshold=200)
    b, fb = await node("b", redis.url(), threshold=200)
    assert not a.alert("198.51.100.9", 120)
    await eventually(lambda: fb.remote_score("198.51.100.9", b.clock()) > 119, 1.0, "b sees a's share")
    assert b.source_score("198.51.100.9") == pytest.approx(120, rel=1e-3)
    assert b.alert("198.51.100.9", 100)  # 120 + 100 >= 200: b blacklists
    await eventually(lambda: a.is_listed("198.51.100.9"), 1.0, "a lists what the sum decided")
    assert a.blacklist["198.51.100.9"].by == "scoring" and a.blacklist["198.51.100.9"].origin == "b"
    assert fa.remote_source("198.51.100.9", a.clock())["by_node"]["b"] == pytest.approx(100, rel=1e-3)


async def test_simultaneous_alerts_on_two_hosts_still_blacklist(redis: Any, node: Any) -> None:
    # Neither host sees the other's share before its own alert: the one that receives the
    # other's share sums and decides.
    a, _ = await node("a", redis.url(), threshold=200)
    b, _ = await node("b", redis.url(), threshold=200)
    a.alert("198.51.100.10", 110)
    b.alert("198.51.100.10", 110)
    await eventually(lambda: a.is_listed("198.51.100.10") and b.is_listed("198.51.100.10"), 1.0,
                     "both list the source")


async def test_scores_decay_across_hosts(redis: Any, node: Any) -> None:
    a, _ = await node("a", redis.url(), half_life=1.0, threshold=0)
    b, fb = await node("b", redis.url(), half_life=1.0, threshold=0)
    a.alert("198.51.100.11", 100)
    await eventually(lambda: fb.remote_score("198.51.100.11", b.clock()) > 50, 1.0, "b sees a's share")
    at = b.clock()
    later = fb.remote_score("198.51.100.11", at + 2.0)  # two half-lives on
    assert later == pytest.approx(fb.remote_score("198.51.100.11", at) / 4, rel=1e-6)


async def test_incident_running_totals_add_up_across_hosts(redis: Any, node: Any) -> None:
    from honeyswitch.fleet.model import IncidentShare, SourceShare

    (_, fa), (_, fb), (c, fc) = [await node(n, redis.url()) for n in ("a", "b", "c")]
    now = c.clock()
    fa.publish_share(SourceShare("192.0.2.5", 40, now, IncidentShare("inc-a", now - 30, now, 2, 40, now + 900)))
    fb.publish_share(SourceShare("192.0.2.5", 70, now, IncidentShare("inc-b", now - 60, now - 5, 3, 70, now + 895)))
    await eventually(lambda: (fc.remote_source("192.0.2.5", now)["incident"] or {}).get("nodes") == 2, 1.0,
                     "c has both incidents")
    totals = fc.remote_source("192.0.2.5", now)["incident"]
    assert totals == {"alerts": 5, "score": 110, "started": now - 60, "last": now, "nodes": 2}
    assert fc.remote_source("192.0.2.5", now + 899)["incident"]["nodes"] == 1  # b's closed first
    assert fc.remote_source("192.0.2.5", now + 901)["incident"] is None


async def test_a_node_that_starts_later_gets_the_state(redis: Any, node: Any) -> None:
    a, _ = await node("a", redis.url())
    a.list_ip("192.0.2.77", "early")
    a.alert("192.0.2.78", 50)
    await eventually(lambda: a.fleet.health()["outbox"] == 0, 1.0, "a has sent")
    b, fb = await node("b", redis.url())
    assert b.is_listed("192.0.2.77")
    assert b.source_score("192.0.2.78") == pytest.approx(50, rel=1e-3)
    assert fb.health()["last_sync"]["applied"] == 1


async def test_events_of_all_hosts_in_one_stream(redis: Any, node: Any) -> None:
    import asyncio

    from honeyswitch.events import make_event

    (_, fa), (_, fb) = await node("a", redis.url()), await node("b", redis.url())
    fa.publish_event(make_event("blacklist_add", None, src_ip="192.0.2.9", ip="192.0.2.9", reason="x", by="operator"))
    fb.publish_event(make_event("blacklist_remove", None, src_ip="192.0.2.9", ip="192.0.2.9", by="operator"))
    stream = fb.follow_events(since="0-0")
    got = [await asyncio.wait_for(stream.__anext__(), 2.0) for _ in range(2)]
    await stream.aclose()
    assert sorted((e["host"], e["event_type"], e["ip"]) for e in got) == [
        ("a", "blacklist_add", "192.0.2.9"), ("b", "blacklist_remove", "192.0.2.9")]


async def test_no_echo_and_the_allowlist_of_each_host(redis: Any, node: Any) -> None:
    import asyncio

    from redis.asyncio import Redis

    from honeyswitch.fleet.keys import Keys

    (a, _), (b, _) = await node("a", redis.url()), await node("b", redis.url())
    c, _ = await node("c", redis.url())
    c.allow.add("192.0.2.60")  # c's allowlist: never listed there
    a.list_ip("192.0.2.60", "once")
    await eventually(lambda: b.is_listed("192.0.2.60"), 1.0)
    await asyncio.sleep(0.5)  # room for any echo to show up
    assert not c.is_listed("192.0.2.60")
    raw = Redis.from_url(redis.url())
    try:
        entries = await raw.xrange(Keys("honeyswitch").decisions)
    finally:
        await raw.aclose()
    assert [(f[b"k"], f[b"n"]) for _, f in entries] == [(b"bl+", b"a")]  # one decision, no echo


async def test_two_processes_with_one_host_name_are_told(redis: Any, node: Any) -> None:
    _, f1 = await node("same", redis.url())
    _, f2 = await node("same", redis.url())
    await eventually(lambda: f1.health()["duplicate_host"] or f2.health()["duplicate_host"], 2.0,
                     "one of them says the name is taken")


async def test_a_quick_restart_under_the_same_name_is_not_a_duplicate(redis: Any, node: Any) -> None:
    import asyncio

    _, old = await node("r", redis.url())
    await asyncio.sleep(0.3)  # it has written its listing and owner token
    await old._cancel_tasks()  # gone without leaving, as a crash would
    _, new = await node("r", redis.url())
    await asyncio.sleep(1.0)  # five listings
    assert new.health()["duplicate_host"] is False
