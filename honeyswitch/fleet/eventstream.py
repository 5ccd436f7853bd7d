"""One event stream for all hosts: every node copies its events into a Redis stream
(capped at ``events_maxlen`` entries, approximately), and any node can follow it.

It is a live feed for the dashboard and ``honeyswitch events --follow``, not the
record: each host's JSON-lines log and SQLite store stay the record of its own
sessions, and shipping those files with the usual log shippers is the way to keep all
hosts' events for good.  So events are best effort: while Redis is down they wait in a
bounded buffer (``BUFFER`` events), and past it the oldest are dropped and counted.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..record.escape import dumps
from .keys import Keys

log = logging.getLogger(__name__)
BUFFER = 10_000
BATCH = 200
EVENT_MAX = 64 << 10  # bytes of one event read back at most


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class EventShipper:
    def __init__(self, cmd: Any, keys: Keys, node: str, maxlen: int, counters: Counter[str]) -> None:
        self.cmd, self.keys, self.node, self.maxlen, self.counters = cmd, keys, node, maxlen, counters
        self.buffer: deque[str] = deque()

    def put(self, event: dict[str, Any]) -> None:
        if len(self.buffer) >= BUFFER:
            self.buffer.popleft()
            self.counters["events_dropped"] += 1
        self.buffer.append(dumps(event))

    async def ship(self) -> int:
        """Send up to BATCH waiting events in one round trip; returns how many."""
        batch = [self.buffer[i] for i in range(min(BATCH, len(self.buffer)))]
        if not batch:
            return 0
        pipe = self.cmd.pipeline(transaction=False)
        for line in batch:
            pipe.xadd(self.keys.events, {"n": self.node, "e": line}, maxlen=self.maxlen, approximate=True)
        await pipe.execute()
        for _ in batch:  # only now: a failed send leaves them waiting
            self.buffer.popleft()
        self.counters["events_shipped"] += len(batch)
        return len(batch)


async def follow(block: Any, keys: Keys, since: str, wait_up: Callable[[], Awaitable[Any]],
                 block_ms: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """Every node's events from ``since`` ("$": from now on), each with its ``host``.

    While Redis is down it waits; it resumes after the last event it gave."""
    from redis.exceptions import RedisError

    last: str | bytes = since
    while True:
        await wait_up()
        try:
            if last == "$":
                newest = await block.xrevrange(keys.events, count=1)
                last = newest[0][0] if newest else b"0-0"
            got = await block.xread({keys.events: last}, count=200, block=block_ms)
        except (RedisError, OSError) as e:
            log.debug("cluster: event stream: %s", e)
            await asyncio.sleep(0.5)  # then wait_up() holds us until the component is back
            continue
        if isinstance(got, dict):
            got = list(got.items())
        for _, entries in got or ():
            for entry_id, fields in entries:
                last = entry_id
                event = _event(fields)
                if event is not None:
                    yield event


def _event(fields: dict[Any, Any]) -> dict[str, Any] | None:
    f = {_s(k): v for k, v in fields.items()}
    raw = f.get("e")
    if not raw or len(raw) > EVENT_MAX:
        return None
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    event["host"] = _s(f.get("n", b""))[:128]
    return event
