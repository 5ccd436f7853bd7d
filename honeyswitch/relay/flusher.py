"""Batching the honeypot's copy of the client's bytes: one timer per loop for all sessions.

Mirroring sends every client chunk twice.  Main's copy is on the client's path and goes
at once; the honeypot's is not, and while a session is mirrored with its reply streams
compared byte for byte (:attr:`~honeyswitch.core.session.Session.defer_honeypot`) its
runner holds those chunks and sends them together when the :class:`HoneypotFlusher`
fires, ``honeypot_batch`` seconds (``FLUSH_DELAY`` by default) after the first one.  On loopback every send runs the receiver's
TCP input and wakes it, so a request/reply client costs a third fewer sends, the
honeypot wakes once per batch instead of once per request, and its answers come back
several in one read.

Nothing is lost or reordered: a runner sends what it holds before any other command
towards the honeypot (data, half-close, close), at a switch, and as soon as it holds
``FLUSH_BYTES`` (bulk transfers are not delayed).  The honeypot falls behind main by
that delay at most, which the session core takes as it takes any lagging honeypot: a
``bytes`` switch waits for it to catch up, its turns are counted by position.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol

log = logging.getLogger(__name__)

FLUSH_DELAY = 0.02  # seconds the honeypot's copy may wait ([service] honeypot_batch)
FLUSH_BYTES = 64 << 10  # held bytes that are sent at once


class Held(Protocol):
    def flush_honeypot(self) -> None: ...


class HoneypotFlusher:
    """Calls ``flush_honeypot()`` of each runner that asked, ``delay`` after it asked.

    One timer for all of them, set for the earliest: sessions come due one by one as
    they asked, so their sends (and the honeypot's answers) do not all land in one loop
    turn, which would hold up the clients' traffic behind them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float = FLUSH_DELAY) -> None:
        self._loop = loop
        self.delay = delay
        self._due: deque[tuple[float, Held]] = deque()  # in the order asked: deadlines ascend
        self._handle: asyncio.TimerHandle | None = None

    def add(self, runner: Held) -> None:
        deadline = self._loop.time() + self.delay
        self._due.append((deadline, runner))
        if self._handle is None:
            self._handle = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        due = self._due
        # The loop's timers are coarse (uvloop: milliseconds): take what is due by then.
        now = self._loop.time() + 0.001
        while due and due[0][0] <= now:
            self._flush(due.popleft()[1])
        if due:
            self._handle = self._loop.call_at(due[0][0], self._fire)

    def _flush(self, runner: Held) -> None:
        try:
            runner.flush_honeypot()
        except Exception:  # one session's failure must not keep the others' bytes
            log.exception("flushing a session's honeypot bytes failed")

    def flush_all(self) -> None:
        """Send everything held now (the daemon is stopping)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        due, self._due = self._due, deque()
        for _, runner in due:
            self._flush(runner)

    def close(self) -> None:
        self.flush_all()
