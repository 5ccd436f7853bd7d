"""Whether this node is in contact with Redis: a small state machine with its events.

``connecting`` (no contact yet) -> ``up``; a failed command -> ``down`` (a
``cluster_down`` event, once per outage) -> ``up`` again after the catch-up (a
``cluster_up`` event with what was caught up).  Each stretch of contact has a
generation number: a failure reported by a loop of an older generation is stale and
ignored, so one outage is one event however many loops notice it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..events import iso_timestamp, make_event

log = logging.getLogger(__name__)
ERRORS = (RedisError, OSError, TimeoutError)  # what an unreachable or slow Redis raises
BACKOFF_MIN, BACKOFF_MAX = 0.1, 2.0


def still_cancelled(exc: BaseException) -> None:
    """Re-raise a cancellation that the client library turned into an error of its own
    (a loop that took it for an outage would never stop)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


def one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Contact:
    def __init__(self, shown: str, record: Callable[[dict[str, Any]], None], counters: Counter[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.shown, self.record, self.counters, self.clock = shown, record, counters, clock
        self.state, self.since, self.last_error = "connecting", clock(), ""
        self.gen = 0
        self.up, self.lost = asyncio.Event(), asyncio.Event()
        self._down_at: float | None = None
        self.on_down: list[Callable[[], None]] = []

    @property
    def is_up(self) -> bool:
        return self.state == "up"

    def down(self, exc: BaseException, outbox: int) -> None:
        """Contact failed (or could not be made): say so, once per outage."""
        self.last_error = one_line(exc)
        self.counters["redis_errors"] += 1
        if self.state == "down":
            return
        self.state, self.since = "down", self.clock()
        self._down_at = self._down_at or self.since
        self.up.clear()
        for hook in self.on_down:
            hook()
        log.warning("cluster: Redis unreachable (%s); going on with the local state", self.last_error)
        self._record(make_event("cluster_down", None, redis=self.shown, error=self.last_error, outbox=outbox))

    def fail(self, exc: BaseException, gen: int, outbox: int) -> None:
        """A loop's command failed: if it belongs to the current contact, lose it."""
        if gen == self.gen and self.state == "up":
            self.down(exc, outbox)
            self.lost.set()

    def set_up(self, caught_up: dict[str, Any]) -> None:
        now = self.clock()
        down_for = None if self._down_at is None else round(now - self._down_at, 3)
        self.state, self.since, self._down_at = "up", now, None
        self.gen += 1
        self.counters["reconnects"] += 1
        log.info("cluster: in contact with Redis (%s)", caught_up)
        self._record(make_event("cluster_up", None, redis=self.shown, down_for=down_for, **caught_up))
        self.up.set()

    def _record(self, event: dict[str, Any]) -> None:
        try:
            self.record(event)
        except Exception:  # the daemon's recording failed: the contact goes on regardless
            log.exception("cluster: recording %s failed", event["event_type"])

    def health(self) -> dict[str, Any]:
        return {"state": self.state, "redis": self.shown, "since": iso_timestamp(self.since),
                "last_error": self.last_error or None}
