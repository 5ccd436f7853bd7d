"""The SQLite store: events, sessions and the blacklist, for the API, CLI and dashboard.

Writes go through the background writer thread (:mod:`honeyswitch.record.writer`) on a
connection only that thread uses, batched into one transaction per writer batch, so the
event loop never waits on SQLite.  Reads are synchronous, on a second connection in
autocommit mode so each query sees the latest committed data.  The file is in WAL mode:
the daemon, the CLI and the API in other processes can all open it at once, readers
never block the writer, and ``busy_timeout`` makes concurrent writers wait their turn.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..events import iso_timestamp
from ..record.escape import dumps
from ..record.writer import Writer
from .schema import LIFECYCLE_EVENTS, PARTIAL_EVENT_INDEX, SESSION_COLUMNS, migrate

BUSY_TIMEOUT_MS = 5000
_EVENT_SQL = ("INSERT INTO events (ts, event_type, session_id, service, src_ip, json) "
              "VALUES (?, ?, ?, ?, ?, ?)")
EventRow = tuple[Any, ...]  # (ts, event_type, session_id, service, src_ip, json)


def connect(path: Path) -> sqlite3.Connection:
    """A connection with our settings; ``isolation_level=None`` so we control transactions."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL is durable across a crash of the process (not of the OS) in WAL mode and
    # saves an fsync per commit.
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class Store:
    """The SQLite database at ``path``; several processes may open it at once."""

    def __init__(self, path: str | os.PathLike[str], writer: Writer | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._read = connect(self.path)
        self.version = migrate(self._read)
        self._write = connect(self.path)  # used on the writer thread only
        self._read_lock = threading.Lock()  # API threads and the loop may read at once
        self._own_writer = writer is None
        self.writer = writer if writer is not None else Writer(name="honeyswitch-store")
        self._after_commit: list[Callable[[], None]] = []  # writer thread only
        self.writer.add_batch_hook(self._commit)
        self._closed = False

    # ------------------------------------------------------------ queued writes

    def add_event(self, event: Mapping[str, Any]) -> bool:
        """Queue an event for the events table (False if the writer dropped it)."""
        ev = dict(event)
        return self.writer.submit(lambda: self._insert_event(ev))

    def upsert_session(self, row: Mapping[str, Any]) -> bool:
        """Queue an insert-or-update of a sessions row; only the given columns change.

        Raises ValueError at once for a missing session_id or an unknown column."""
        clean = session_columns(row)
        return self.writer.submit(lambda: self._execute(*_upsert(clean)))

    def submit_sql(self, sql: str, params: tuple[Any, ...] = (), *, critical: bool = False,
                   done: Callable[[], None] | None = None) -> bool:
        """Queue one statement on the writer connection (for :mod:`.blacklist`).

        ``done`` is called on the writer thread once the statement's transaction has
        been committed (or has failed), so a caller can tell "queued" from "in the file".
        """
        def job() -> None:
            if done is not None:
                self._after_commit.append(done)
            self._execute(sql, params)
        return self.writer.submit(job, critical=critical)

    def upsert_incident(self, incident: Mapping[str, Any]) -> bool:
        """Queue an insert-or-replace of an incident (its ``as_dict()`` form)."""
        row = dict(incident)
        params = (row["incident_id"], row["src_ip"], row["started"], row["last"], row["alerts"],
                  row["score"], int(bool(row.get("closed"))), dumps(row))
        return self.writer.submit(lambda: self._execute(_INCIDENT_SQL, params))

    def incidents(self, limit: int = 50, src_ip: str | None = None) -> list[dict[str, Any]]:
        """The most recently active ``limit`` incidents, newest first."""
        sql, params = "SELECT json FROM incidents", []
        if src_ip is not None:
            sql += " WHERE src_ip = ?"
            params.append(src_ip)
        rows = self.query(sql + " ORDER BY last DESC LIMIT ?", (*params, int(limit)))
        return [json.loads(r["json"]) for r in rows]

    def alerts_per_minute(self, minutes: int, now: float) -> list[dict[str, Any]]:
        """Alert counts per UTC minute over the last ``minutes``, oldest first, zeros included."""
        start = int(now // 60 - minutes + 1) * 60
        since = datetime.fromtimestamp(start, UTC).isoformat()
        rows = self.query(
            "SELECT substr(ts, 1, 16) AS minute, count(*) AS n FROM events "
            f"WHERE event_type = 'alert' AND {PARTIAL_EVENT_INDEX} AND ts >= ? GROUP BY minute", (since,))
        counts = {r["minute"]: r["n"] for r in rows}
        out = []
        for i in range(minutes):
            t = start + 60 * i
            label = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M")
            out.append({"t": t, "alerts": int(counts.get(label, 0))})
        return out

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued write is committed."""
        return self.writer.flush(timeout)

    def close(self) -> None:
        """Commit what is queued and close both connections."""
        if self._closed:
            return
        self._closed = True
        self.writer.flush()
        self.writer.remove_batch_hook(self._commit)
        if self._own_writer:
            self.writer.close()
        self._commit()  # the writer has finished our jobs; nothing else uses _write now
        self._write.close()
        with self._read_lock:
            self._read.close()

    # ------------------------------------------------------------ writer thread

    def _execute(self, sql: str, params: tuple[Any, ...]) -> None:
        if not self._write.in_transaction:
            self._write.execute("BEGIN IMMEDIATE")
        self._write.execute(sql, params)

    def _insert_event(self, ev: dict[str, Any]) -> None:
        self._execute(_EVENT_SQL, (ev.get("timestamp"), ev.get("event_type"), ev.get("session_id"),
                                   ev.get("service"), ev.get("src_ip"), dumps(ev)))

    def write_batch_now(self, events: list[EventRow], sessions: Iterable[dict[str, Any]]) -> None:
        """On the writer thread: insert event rows and upsert session rows (each checked
        by :func:`session_columns`; one per session, see :func:`merge_session_rows`) in
        one short transaction, a prepared statement per shape of row."""
        if not self._write.in_transaction:
            self._write.execute("BEGIN IMMEDIATE")
        if events:
            self._write.executemany(_EVENT_SQL, events)
        shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in sessions:
            shapes.setdefault(tuple(row), []).append(tuple(_column_value(c, v) for c, v in row.items()))
        for cols, rows in shapes.items():
            self._write.executemany(_upsert_sql(cols), rows)
        self._commit()  # short: other processes' writers wait on this lock

    def _commit(self) -> None:
        try:
            if self._write.in_transaction:
                self._write.execute("COMMIT")
        except sqlite3.Error:
            # Still locked after busy_timeout, or the disk is full: give the batch up
            # (the writer logs and counts it) rather than hold the lock forever.
            if self._write.in_transaction:
                self._write.execute("ROLLBACK")
            raise
        finally:
            callbacks, self._after_commit = self._after_commit, []
            for fn in callbacks:
                fn()

    # ------------------------------------------------------------ synchronous reads

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run a read-only query on the reader connection; rows as dicts."""
        with self._read_lock:
            cur = self._read.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def events(self, session_id: str | None = None, event_type: str | None = None,
               limit: int = 100, src_ip: str | None = None) -> list[dict[str, Any]]:
        """The most recent ``limit`` matching events, oldest first, as event dicts."""
        where, params = [], []
        for col, value in (("session_id", session_id), ("event_type", event_type), ("src_ip", src_ip)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        if session_id is None and event_type is not None and event_type not in LIFECYCLE_EVENTS:
            # The events_type/events_src indexes leave out the session lifecycle events
            # (most of the table); SQLite uses them only if the query names their condition.
            where.append(PARTIAL_EVENT_INDEX)
        sql = "SELECT json FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = self.query(sql, (*params, int(limit)))
        rows.reverse()  # not reversed(rows): mypyc 2.4 cannot compile that comprehension
        return [json.loads(r["json"]) for r in rows]

    def sessions(self, limit: int = 100) -> list[dict[str, Any]]:
        """The most recently started ``limit`` sessions, newest first."""
        rows = self.query("SELECT * FROM sessions ORDER BY started DESC, rowid DESC LIMIT ?", (int(limit),))
        return [_session_out(r) for r in rows]

    def session(self, session_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        return _session_out(rows[0]) if rows else None

    def data_version(self) -> int:
        """Changes when another connection (process, or our writer) commits."""
        with self._read_lock:
            return int(self._read.execute("PRAGMA data_version").fetchone()[0])


def session_columns(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` checked for the sessions table (ValueError for a missing session_id or an
    unknown column), without NOT NULL columns given as None (they keep what they have)."""
    clean = {k: v for k, v in row.items() if not (v is None and k in ("switched", "score"))}
    if "session_id" not in clean:
        raise ValueError("session row needs a session_id")
    unknown = [c for c in clean if c not in _COLUMN_SET]
    if unknown:
        raise ValueError(f"unknown session column(s): {', '.join(unknown)}")
    return clean


def merge_session_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows checked by :func:`session_columns`, one per session: upserting a session's
    rows in order sets what upserting their merge (later values win) sets."""
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        sid = row["session_id"]
        if (have := merged.get(sid)) is None:
            merged[sid] = row
        else:
            merged[sid] = {**have, **row}
    return list(merged.values())


_COLUMN_SET = frozenset(SESSION_COLUMNS)
_UPSERT_SQL: dict[tuple[str, ...], str] = {}


def _upsert_sql(cols: tuple[str, ...]) -> str:
    sql = _UPSERT_SQL.get(cols)
    if sql is None:
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "session_id")
        sql = (f"INSERT INTO sessions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
               + (f" ON CONFLICT (session_id) DO UPDATE SET {updates}" if updates
                  else " ON CONFLICT (session_id) DO NOTHING"))
        if len(_UPSERT_SQL) < 256:
            _UPSERT_SQL[cols] = sql
    return sql


def _upsert(row: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    return _upsert_sql(tuple(row)), tuple(_column_value(c, v) for c, v in row.items())


def _column_value(column: str, value: Any) -> Any:
    # Times are ISO text throughout the store; accept epoch seconds from callers too.
    if column in ("started", "ended") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso_timestamp(value)
    return value


_INCIDENT_SQL = (
    "INSERT OR REPLACE INTO incidents (incident_id, src_ip, started, last, alerts, score, closed, json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _session_out(row: dict[str, Any]) -> dict[str, Any]:
    row["switched"] = bool(row["switched"])
    return row
