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
from typing import Protocol

log = logging.getLogger(__name__)

FLUSH_DELAY = 0.02  # seconds the honeypot's copy may wait ([service] honeypot_batch)
FLUSH_BYTES = 64 << 10  # held bytes that are sent at once


class Held(Protocol):
    def flush_honeypot(self) -> None: ...


class HoneypotFlusher:
    """Calls ``flush_honeypot()`` of every runner that asked, ``delay`` after the first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float = FLUSH_DELAY) -> None:
        self._loop = loop
        self.delay = delay
        self._due: list[Held] = []
        self._handle: asyncio.TimerHandle | None = None

    def add(self, runner: Held) -> None:
        self._due.append(runner)
        if self._handle is None:
            self._handle = self._loop.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        due, self._due = self._due, []
        for runner in due:
            try:
                runner.flush_honeypot()
            except Exception:  # one session's failure must not keep the others' bytes
                log.exception("flushing a session's honeypot bytes failed")

    def close(self) -> None:
        """Send everything held now and stop (the daemon is stopping)."""
        if self._handle is not None:
            self._handle.cancel()
        self._fire()
