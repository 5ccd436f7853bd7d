"""One event stream for all hosts: every node copies its events into a Redis stream
(capped at ``events_maxlen`` entries, approximately), and any node can follow it.

It is a live feed for the dashboard and ``honeyswitch events --follow``, not the
record: each host's JSON-lines log and SQLite store stay the record of its own
sessions, and shipping those files with the usual log shippers is the way to keep all
hosts' events for good.  So events are best effort: while Redis is down they wait in a
bounded buffer (``BUFFER`` events), and past it the oldest are dropped and counted.

One stream entry holds the events a host sent together (``b``: a JSON array of up to
``BATCH`` events, at most ``BATCH_BYTES``): one ``XADD`` per batch rather than per event
is most of what shipping costs a busy host.  An entry of an older host's single event
(``e``) is read too.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..record.escape import dumps
from .config import ClusterConfig
from .keys import Keys

log = logging.getLogger(__name__)
BUFFER = 10_000
BATCH = 200
EVENT_MAX = 64 << 10  # bytes of one event (a larger one is not shipped, and not read back)
BATCH_BYTES = 512 << 10  # bytes of the events of one stream entry


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class EventShipper:
    def __init__(self, cmd: Any, keys: Keys, node: str, maxlen: int, counters: Counter[str]) -> None:
        self.cmd, self.keys, self.node, self.maxlen, self.counters = cmd, keys, node, maxlen, counters
        self.buffer: deque[tuple[int, str]] = deque()  # (sequence number, event line)
        self._seq = 0
        self._lock = asyncio.Lock()  # the events loop and a stop's last send

    def put(self, event: dict[str, Any]) -> None:
        line = dumps(event)
        if len(line) > EVENT_MAX or len(self.buffer) >= BUFFER:
            self.counters["events_dropped"] += 1
            if len(line) > EVENT_MAX:
                return
            self.buffer.popleft()
        self._seq += 1
        self.buffer.append((self._seq, line))

    async def ship(self) -> int:
        """Send up to BATCH waiting events in one round trip (one stream entry); returns how many."""
        async with self._lock:
            batch: list[tuple[int, str]] = []
            size = 0
            for item in self.buffer:
                size += len(item[1]) + 1
                if len(batch) == BATCH or (batch and size > BATCH_BYTES):
                    break
                batch.append(item)
            if not batch:
                return 0
            body = "[" + ",".join(line for _, line in batch) + "]"
            await self.cmd.xadd(self.keys.events, {"n": self.node, "b": body}, maxlen=self.maxlen, approximate=True)
            # Only now (a failed send leaves them waiting), and only those sent: while it
            # was sending, a full buffer may have dropped some of them.
            last = batch[-1][0]
            while self.buffer and self.buffer[0][0] <= last:
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
                for event in _events(fields):
                    yield event


async def follow_cluster(config: ClusterConfig, node: str, since: str = "$") -> AsyncIterator[dict[str, Any]]:
    """:func:`follow` with clients of its own, for a reader that has no sync component
    (``honeyswitch events --follow --cluster``, a supervisor's API).  While Redis is down
    it tries again every half second."""
    from .connect import make_clients

    clients = make_clients(config, node)
    try:
        async for event in follow(clients.block, Keys(config.prefix), since, _at_once):
            yield event
    finally:
        await clients.close()


async def _at_once() -> None:
    return None


def _events(fields: dict[Any, Any]) -> list[dict[str, Any]]:
    """The events of one stream entry, each with its ``host`` (what is malformed or too
    large is skipped: another host may run another version, or be compromised)."""
    f = {_s(k): v for k, v in fields.items()}
    raw, many = (f["b"], True) if "b" in f else (f.get("e"), False)
    if not raw or len(raw) > (BATCH_BYTES + BATCH if many else EVENT_MAX):
        return []
    try:
        parsed = json.loads(raw)
    except ValueError:
        return []
    host = _s(f.get("n", b""))[:128]
    if many != isinstance(parsed, list):
        return []
    events = parsed[:BATCH] if many else [parsed]
    return [{**e, "host": host} for e in events if isinstance(e, dict)]
