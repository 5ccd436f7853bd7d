"""The recorder: the one place the relay sends events to.

:meth:`Recorder.emit` builds the event (:func:`honeyswitch.events.make_event`), appends
it to the JSON-lines log, queues it for the SQLite store, keeps the ``sessions`` table in
step (from session_start, switch and session_end), and passes it to subscribers (the
dashboard's live feed, scoring).  Everything here returns at once; disk work happens on
the writer thread.  A subscriber that raises is logged and the others still run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..events import make_event
from ..store.db import Store
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


def _write_both(eventlog: EventLog, store: Store, event: dict[str, Any]) -> None:
    text = dumps(event)
    eventlog.append_now(event, text)
    store.insert_event_now(event, text)


class Recorder:
    """Builds, records and publishes events."""

    def __init__(self, eventlog: EventLog | None = None, store: Store | None = None) -> None:
        self.eventlog = eventlog
        self.store = store
        self._listeners: list[Listener] = []

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
            # One job, one serialisation for both (the writer thread holds the GIL for it).
            ev = dict(event)
            log_.writer.submit(lambda: _write_both(log_, store, ev))
        elif log_ is not None:
            log_.write(event)
        elif store is not None:
            store.add_event(event)
        if store is not None:
            row = session_row(event)
            if row is not None:
                store.upsert_session(row)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", listener)
