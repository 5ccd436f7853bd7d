"""Which nodes are live, and their sessions.

Every ``sessions_interval`` each node writes its live sessions (the ``sessions_max``
highest scores, as JSON) under a key that expires after three intervals, and its
heartbeat into the node set.  A node that stops, crashes or loses Redis drops out of the
listing within three intervals.  Reading the cluster's sessions takes one round trip
for the node set and one for the listings; this node's own sessions come from the
daemon directly.  While Redis is down the last listings read are shown, marked stale.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .keys import Keys
from .switchboard import STREAM_TTL_MS

log = logging.getLogger(__name__)
LISTING_MAX = 16 << 20  # bytes of one node's listing read at most


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass(slots=True)
class Listing:
    node: str
    at: float
    total: int
    sessions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.sessions)


def _score(session: dict[str, Any]) -> float:
    value = session.get("score")
    return float(value) if isinstance(value, (int, float)) else 0.0


class Roster:
    def __init__(self, cmd: Any, keys: Keys, node: str, interval: float, limit: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.cmd, self.keys, self.node, self.interval, self.limit = cmd, keys, node, interval, limit
        self.clock = clock
        self.ttl = max(3 * interval, 3.0)
        self.cache: dict[str, Listing] = {}  # the other nodes' listings, as last read
        self._last_sent = b""
        self.token = secrets.token_hex(8)
        self.duplicate = False  # another live process has our name
        self._foreign = 0

    async def publish(self, sessions: list[dict[str, Any]]) -> None:
        """Write this node's listing and heartbeat."""
        now = self.clock()
        top = sorted(sessions, key=_score, reverse=True)[:self.limit]
        body = json.dumps(top, separators=(",", ":"), default=str).encode()
        ttl_ms = int(self.ttl * 1000)
        pipe = self.cmd.pipeline(transaction=False)
        if body != self._last_sent:
            doc = b'{"node":%s,"at":%r,"total":%d,"sessions":' % (json.dumps(self.node).encode(), now, len(sessions))
            pipe.set(self.keys.sessions(self.node), doc + body + b"}", px=ttl_ms)
        else:
            pipe.pexpire(self.keys.sessions(self.node), ttl_ms)
        pipe.set(self.keys.owner(self.node), self.token, px=ttl_ms, get=True)
        pipe.zadd(self.keys.nodes, {self.node: int(now * 1000)})
        pipe.zremrangebyscore(self.keys.nodes, "-inf", f"({int((now - self.ttl) * 1000)}")
        pipe.pexpire(self.keys.commands(self.node), STREAM_TTL_MS)
        replies = await pipe.execute()
        # A refresh that found no key (Redis restarted empty) writes it whole next time.
        self._last_sent = body if replies[0] else b""
        other = replies[1]
        # Twice running: once may be this host's own previous process (a quick restart).
        self._foreign = self._foreign + 1 if other and other != self.token.encode() else 0
        if self._foreign >= 2 and not self.duplicate:
            self.duplicate = True
            log.error("cluster: another process also goes by the host name %r: each ignores the "
                      "other's decisions; give every host its own [cluster] host", self.node)

    async def live_nodes(self) -> list[str]:
        since = int((self.clock() - self.ttl) * 1000)
        return sorted(_s(n) for n in await self.cmd.zrangebyscore(self.keys.nodes, since, "+inf"))

    async def read(self) -> dict[str, Listing]:
        """The other live nodes' listings (also kept in ``cache``)."""
        nodes = [n for n in await self.live_nodes() if n != self.node]
        pipe = self.cmd.pipeline(transaction=False)
        for n in nodes:
            pipe.get(self.keys.sessions(n))
        fresh: dict[str, Listing] = {}
        for n, raw in zip(nodes, await pipe.execute(), strict=True):
            listing = self._decode(n, raw)
            if listing is not None:
                fresh[n] = listing
        self.cache = fresh
        return fresh

    def _decode(self, node: str, raw: Any) -> Listing | None:
        if not raw or len(raw) > LISTING_MAX:
            return None
        try:
            doc = json.loads(raw)
            sessions = [s for s in doc["sessions"] if isinstance(s, dict)]
            return Listing(node, float(doc["at"]), int(doc["total"]), sessions)
        except (ValueError, KeyError, TypeError) as e:
            log.warning("cluster: bad session listing from %r: %s", node, e)
            return None

    def view(self, local: list[dict[str, Any]], listings: dict[str, Listing], stale: bool) -> dict[str, Any]:
        """The cluster's sessions, each with its ``host``, and each host's status."""
        now = self.clock()
        sessions = [{**s, "host": self.node} for s in local]
        hosts: dict[str, Any] = {self.node: {"live": True, "age": 0.0, "total": len(local),
                                             "truncated": False, "stale": False}}
        for node, listing in sorted(listings.items()):
            sessions.extend({**s, "host": node} for s in listing.sessions)
            hosts[node] = {"live": not stale and now - listing.at <= self.ttl, "age": round(now - listing.at, 3),
                           "total": listing.total, "truncated": listing.truncated, "stale": stale}
        return {"sessions": sessions, "hosts": hosts}

    def locate(self, session_id: str) -> str | None:
        """The node whose last listing holds ``session_id``."""
        for node, listing in self.cache.items():
            if any(s.get("session_id") == session_id for s in listing.sessions):
                return node
        return None
