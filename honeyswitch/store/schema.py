"""The SQLite schema, as migrations applied in order.

Each entry of :data:`MIGRATIONS` is one SQL script; a database at version *n* has run the
first *n*.  Never edit a released script: add a new one.  Times are ISO 8601 UTC text
(as in events; it sorts correctly) except the blacklist's ``added``/``expires``, which are
epoch seconds because expiry is compared numerically on every check.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator

# Every session writes a session_start and a session_end event: the by-type and by-source
# indexes leave them out (their queries find them by scanning the newest rows, or by
# session_id), which halves the index work of each event insert.
LIFECYCLE_EVENTS = ("session_start", "session_end")
PARTIAL_EVENT_INDEX = f"event_type NOT IN ({', '.join(repr(t) for t in LIFECYCLE_EVENTS)})"

MIGRATIONS: list[str] = [
    # 1: events, sessions, blacklist
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        event_type TEXT NOT NULL,
        session_id TEXT,
        service TEXT,
        src_ip TEXT,
        json TEXT NOT NULL
    );
    CREATE INDEX events_session ON events (session_id);
    CREATE INDEX events_type ON events (event_type, id);
    CREATE INDEX events_src ON events (src_ip, id);

    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        service TEXT,
        src_ip TEXT,
        src_port INTEGER,
        dest_ip TEXT,
        dest_port INTEGER,
        started TEXT,
        ended TEXT,
        state TEXT,
        reason TEXT,
        switched INTEGER NOT NULL DEFAULT 0,
        score REAL NOT NULL DEFAULT 0,
        bytes_from_client INTEGER,
        bytes_main_to_client INTEGER,
        bytes_from_honeypot INTEGER,
        transcript TEXT
    );
    CREATE INDEX sessions_started ON sessions (started);
    CREATE INDEX sessions_src ON sessions (src_ip);

    CREATE TABLE blacklist (
        ip TEXT PRIMARY KEY,
        reason TEXT NOT NULL DEFAULT '',
        added_by TEXT NOT NULL DEFAULT '',
        added REAL NOT NULL,
        expires REAL
    );
    """,
    # 2: incidents (a source's alerts grouped in time; see honeyswitch.scoring.incidents)
    """
    CREATE TABLE incidents (
        incident_id TEXT PRIMARY KEY,
        src_ip TEXT NOT NULL,
        started REAL NOT NULL,
        last REAL NOT NULL,
        alerts INTEGER NOT NULL,
        score REAL NOT NULL,
        closed INTEGER NOT NULL DEFAULT 0,
        json TEXT NOT NULL
    );
    CREATE INDEX incidents_last ON incidents (last);
    CREATE INDEX incidents_src ON incidents (src_ip);
    """,
    # 3: the events_type and events_src indexes without the session lifecycle events
    f"""
    DROP INDEX events_type;
    DROP INDEX events_src;
    CREATE INDEX events_type ON events (event_type, id) WHERE {PARTIAL_EVENT_INDEX};
    CREATE INDEX events_src ON events (src_ip, id) WHERE {PARTIAL_EVENT_INDEX};
    """,
]

SESSION_COLUMNS = (
    "session_id", "service", "src_ip", "src_port", "dest_ip", "dest_port", "started",
    "ended", "state", "reason", "switched", "score", "bytes_from_client",
    "bytes_main_to_client", "bytes_from_honeypot", "transcript",
)


class SchemaError(RuntimeError):
    """The database is from a newer honeyswitch, or a migration failed."""


def statements(script: str) -> Iterator[str]:
    """Split a script into statements (``executescript`` would commit our transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""
    if buf.strip():
        raise SchemaError(f"incomplete SQL statement in migration: {buf.strip()[:60]!r}")


def migrate(conn: sqlite3.Connection, migrations: list[str] = MIGRATIONS) -> int:
    """Bring the database up to date; returns its version.

    Runs under ``BEGIN IMMEDIATE`` so two processes starting together do not both
    migrate: the second waits (busy_timeout), then finds the work done."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] or 0
        if version > len(migrations):
            raise SchemaError(
                f"database schema version {version} is newer than this honeyswitch "
                f"knows ({len(migrations)}); upgrade honeyswitch")
        for number in range(version + 1, len(migrations) + 1):
            for stmt in statements(migrations[number - 1]):
                conn.execute(stmt)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            version = number
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
