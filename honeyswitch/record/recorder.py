"""The recorder: the one place the relay sends events to.

:meth:`Recorder.emit` builds the event (:func:`honeyswitch.events.make_event`), appends
it to the JSON-lines log, queues it for the SQLite store, keeps the ``sessions`` table in
step (from session_start, switch and session_end), and passes it to subscribers (the
dashboard's live feed, scoring).  Everything here returns at once; disk work happens on
the writer thread.  A subscriber that raises is logged and the others still run.

With the log and the store on one writer (the daemon), events wait in a queue of the
recorder's own and one writer job takes all that queued up: each event is serialised
once for both outputs, the log gets the batch's lines in one write, the events table one
``executemany``, and a session's rows of one batch (start and end of a short session)
become one upsert.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from ..events import make_event
from ..store.db import EventRow, Store, merge_session_rows, session_columns
from .escape import dumps
from .eventlog import EventLog

log = logging.getLogger(__name__)
Listener = Callable[[dict[str, Any]], None]
_SESSION_START = ("service", "src_ip", "src_port", "dest_ip", "dest_port")
_SESSION_END = ("state", "reason", "score", "switched", "bytes_from_client",
                "bytes_main_to_client", "bytes_from_honeypot", "transcript")


def session_row(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``sessions`` columns an event sets, or None if it sets none."""
    kind, sid = event.get("event_type"), event.get("session_id")
    if sid is None:
        return None
    if kind == "session_start":
        row = {k: event.get(k) for k in _SESSION_START}
        row.update(session_id=sid, started=event.get("timestamp"), state=event.get("state"))
        return row
    if kind == "switch":
        row = {"session_id": sid, "switched": True}
        if event.get("score") is not None:
            row["score"] = event["score"]
        return row
    if kind == "session_end":
        row = {k: event.get(k) for k in _SESSION_END if event.get(k) is not None}
        row.update(session_id=sid, ended=event.get("timestamp"))
        return row
    return None


class Recorder:
    """Builds, records and publishes events."""

    def __init__(self, eventlog: EventLog | None = None, store: Store | None = None) -> None:
        self.eventlog = eventlog
        self.store = store
        self._listeners: list[Listener] = []
        # Events for the shared writer (appended on the loop, taken by the writer thread:
        # deque appends and pops are atomic) and whether a job to take them is queued.
        self._queue: deque[dict[str, Any]] = deque()
        self._scheduled = False

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, event_type: str, session: Mapping[str, Any] | Any | None = None,
             **fields: Any) -> dict[str, Any]:
        """Build an event (ValueError for an unknown type), record it, return it."""
        event = make_event(event_type, session, **fields)
        self.record(event)
        return event

    def record(self, event: dict[str, Any]) -> None:
        """Record an event already built (e.g. by the blacklist's ``on_change``)."""
        log_, store = self.eventlog, self.store
        if log_ is not None and store is not None and log_.writer is store.writer:
            self._queue_shared(log_, store, event)
        else:
            if log_ is not None:
                log_.write(event)
            if store is not None:
                store.add_event(event)
                row = session_row(event)
                if row is not None:
                    store.upsert_session(row)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", listener)

    def _queue_shared(self, log_: EventLog, store: Store, event: dict[str, Any]) -> None:
        writer = store.writer
        if writer.closed:
            return
        if len(self._queue) >= writer.maxsize:
            writer.count_dropped()  # as a full writer queue would: never block the loop
            return
        self._queue.append(dict(event))  # a copy: listeners get the original
        if not self._scheduled:
            self._scheduled = True
            writer.submit(partial(self._drain, log_, store), critical=True)

    def _drain(self, log_: EventLog, store: Store) -> None:
        """Writer thread: record every queued event."""
        self._scheduled = False  # first: an event queued from now on gets a new job
        queue = self._queue
        texts: list[str] = []
        rows: list[EventRow] = []
        sessions: list[dict[str, Any]] = []
        while queue:
            ev = queue.popleft()
            try:
                text = dumps(ev)
                row = session_row(ev)
                if row is not None:
                    sessions.append(session_columns(row))
            except (TypeError, ValueError):
                log.exception("event not recorded: %r", ev.get("event_type"))
                continue
            texts.append(text)
            rows.append((ev.get("timestamp"), ev.get("event_type"), ev.get("session_id"),
                         ev.get("service"), ev.get("src_ip"), text))
        if rows:
            log_.append_lines(texts)
            store.write_batch_now(rows, merge_session_rows(sessions))
