"""The SQLite store: migrations, queued writes, readers, restart, sharing the file."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from honeyswitch.events import make_event
from honeyswitch.record.writer import Writer
from honeyswitch.store import schema
from honeyswitch.store.db import Store, merge_session_rows, session_columns

SESSION = {"session_id": "s1", "service": "web", "src_ip": "198.51.100.7", "src_port": 4000,
           "dest_ip": "203.0.113.1", "dest_port": 80}


def _fill(store: Store) -> None:
    store.add_event(make_event("session_start", SESSION, state="mirror", main="tcp://m:1", honeypot="tcp://h:2"))
    store.add_event(make_event("alert", SESSION, detector="signature", score=50.0, reason="x\x1b[0m"))
    store.add_event(make_event("daemon_stop", None, reason="test"))
    store.upsert_session({**SESSION, "started": "2026-11-25T19:00:00.000000+00:00", "state": "mirror"})
    store.upsert_session({"session_id": "s1", "ended": 1795633200.0, "state": "honeypot", "switched": True,
                          "score": 130.5, "bytes_from_client": 10, "transcript": "/t/s1.jsonl"})


def test_wal_and_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "hs.db")
    assert store.version == len(schema.MIGRATIONS)
    assert store.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    store.close()


def test_events_and_sessions_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "hs.db")
    _fill(store)
    store.close()  # close drains the writer: nothing queued is lost
    store = Store(tmp_path / "hs.db")
    events = store.events()
    assert [e["event_type"] for e in events] == ["session_start", "alert", "daemon_stop"]
    assert events[1]["reason"] == "x\x1b[0m"
    assert [e["event_type"] for e in store.events(session_id="s1")] == ["session_start", "alert"]
    assert [e["event_type"] for e in store.events(event_type="alert")] == ["alert"]
    assert [e["event_type"] for e in store.events(limit=2)] == ["alert", "daemon_stop"]
    row = store.session("s1")
    assert row is not None
    assert row["state"] == "honeypot" and row["switched"] is True and row["score"] == 130.5
    assert row["src_port"] == 4000 and row["started"].startswith("2026-11-25T19:00:00")
    assert row["ended"] == "2026-11-25T19:00:00.000000+00:00"  # epoch seconds stored as ISO
    assert store.session("nope") is None
    store.close()


def test_sessions_newest_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "hs.db")
    for i in range(5):
        store.upsert_session({"session_id": f"s{i}", "started": f"2026-11-25T19:00:0{i}.000000+00:00"})
    store.flush()
    assert [r["session_id"] for r in store.sessions(limit=3)] == ["s4", "s3", "s2"]
    assert store.sessions()[0]["switched"] is False
    store.close()


def test_bad_session_row_is_refused_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "hs.db")
    with pytest.raises(ValueError, match="session_id"):
        store.upsert_session({"state": "x"})
    with pytest.raises(ValueError, match="unknown session column"):
        store.upsert_session({"session_id": "a", "state; DROP TABLE sessions": 1})
    store.close()


def test_two_stores_on_one_file(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "hs.db"), Store(tmp_path / "hs.db")
    before = b.data_version()
    a.add_event(make_event("daemon_start", None))
    a.flush()
    assert b.data_version() != before
    assert [e["event_type"] for e in b.events()] == ["daemon_start"]
    b.add_event(make_event("daemon_stop", None))
    b.flush()
    assert [e["event_type"] for e in a.events()] == ["daemon_start", "daemon_stop"]
    a.close()
    b.close()


def test_another_process_writes_while_we_hold_it_open(tmp_path: Path) -> None:
    path = tmp_path / "hs.db"
    store = Store(path)
    code = textwrap.dedent(f"""
        from honeyswitch.events import make_event
        from honeyswitch.store.db import Store
        s = Store({str(path)!r})
        for i in range(50):
            s.add_event(make_event("daemon_start", None, pid=i))
        s.close()
    """)
    for i in range(20):  # our writes interleave with the other process's
        store.add_event(make_event("daemon_stop", None, reason=str(i)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
    store.flush()
    events = store.events(limit=1000)
    assert sum(e["event_type"] == "daemon_start" for e in events) == 50
    assert sum(e["event_type"] == "daemon_stop" for e in events) == 20
    store.close()


def test_migrations_run_once_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    steps = ["CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y TEXT;\nINSERT INTO a VALUES (1, 'z');"]
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(conn, steps[:1]) == 1
    assert schema.migrate(conn, steps) == 2
    assert schema.migrate(conn, steps) == 2
    assert conn.execute("SELECT * FROM a").fetchall() == [(1, "z")]
    with pytest.raises(schema.SchemaError, match="newer"):
        schema.migrate(conn, steps[:1])
    conn.close()


def test_shared_writer(tmp_path: Path) -> None:
    w = Writer()
    store = Store(tmp_path / "hs.db", writer=w)
    store.add_event(make_event("daemon_start", None))
    store.close()
    assert not w.closed
    w.close()
    assert [e["event_type"] for e in Store(tmp_path / "hs.db").events()] == ["daemon_start"]


def test_merged_session_rows_set_what_the_rows_in_order_set(tmp_path: Path) -> None:
    rows = [
        session_columns({**SESSION, "started": "2026-11-25T19:00:00.000000+00:00", "state": "mirror"}),
        session_columns({"session_id": "s2", "started": "2026-11-25T19:00:01.000000+00:00", "state": "direct"}),
        session_columns({"session_id": "s1", "switched": True, "score": None}),
        session_columns({"session_id": "s1", "ended": 1795633200.0, "state": "honeypot", "score": 130.5}),
    ]
    merged = merge_session_rows(rows)
    assert [r["session_id"] for r in merged] == ["s1", "s2"]
    one_by_one, batched = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    for row in rows:
        one_by_one.upsert_session(row)
    one_by_one.flush()
    batched.writer.submit(lambda: batched.write_batch_now([], merged))
    batched.flush()
    for sid in ("s1", "s2"):
        assert one_by_one.session(sid) == batched.session(sid)
    row = batched.session("s1")
    assert row is not None and row["switched"] is True and row["state"] == "honeypot"
    assert row["ended"] == "2026-11-25T19:00:00.000000+00:00" and row["src_port"] == 4000
    one_by_one.close()
    batched.close()


def test_session_columns_are_checked() -> None:
    with pytest.raises(ValueError, match="session_id"):
        session_columns({"state": "x"})
    with pytest.raises(ValueError, match="unknown"):
        session_columns({"session_id": "a", "nope": 1})
    assert session_columns({"session_id": "a", "score": None, "switched": None, "reason": None}) == {
        "session_id": "a", "reason": None}


def test_type_and_source_queries_use_the_partial_indexes(tmp_path: Path) -> None:
    store = Store(tmp_path / "hs.db")
    for i in range(30):
        s = {**SESSION, "session_id": f"s{i}"}
        store.add_event(make_event("session_start", s, state="mirror"))
        if i % 10 == 0:
            store.add_event(make_event("alert", s, detector="signature", score=1.0, reason=str(i)))
        store.add_event(make_event("session_end", s, state="mirror"))
    store.flush()
    assert [e["reason"] for e in store.events(event_type="alert")] == ["0", "10", "20"]
    assert [e["reason"] for e in store.events(event_type="alert", src_ip="198.51.100.7", limit=2)] == ["10", "20"]
    assert store.events(event_type="alert", src_ip="192.0.2.1") == []
    assert [e["session_id"] for e in store.events(event_type="session_end", limit=2)] == ["s28", "s29"]
    assert len(store.events(session_id="s10")) == 3
    assert [e["reason"] for e in store.events(session_id="s10", event_type="alert")] == ["10"]
    index = "event_type NOT IN ('session_start', 'session_end')"
    plans = {
        "type": f"SELECT json FROM events WHERE event_type = ? AND {index} ORDER BY id DESC LIMIT 5",
        "src": f"SELECT json FROM events WHERE event_type = ? AND src_ip = ? AND {index} ORDER BY id DESC LIMIT 5",
    }
    args = {"type": ("alert",), "src": ("alert", "198.51.100.7")}
    for name, sql in plans.items():
        plan = " ".join(str(r) for r in store._read.execute("EXPLAIN QUERY PLAN " + sql, args[name]).fetchall())
        assert "USING INDEX events_" in plan, plan
    lifecycle = store.query("SELECT count(*) AS n FROM events INDEXED BY events_type WHERE event_type = 'alert' "
                            f"AND {index}")
    assert lifecycle == [{"n": 3}]
    store.close()


def test_a_version_2_database_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(conn, schema.MIGRATIONS[:2]) == 2
    conn.execute("INSERT INTO events (ts, event_type, src_ip, json) VALUES ('t', 'alert', '192.0.2.1', '{\"a\":1}')")
    conn.close()
    store = Store(path)
    assert store.version == len(schema.MIGRATIONS) == 3
    assert store.events(event_type="alert", src_ip="192.0.2.1") == [{"a": 1}]
    store.close()
