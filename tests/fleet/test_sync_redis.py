"""Two and three hosts sharing one real redis-server: blacklist, scores, incidents."""
from __future__ import annotations

from typing import Any

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
