"""The recorder: one emit reaches the log, the store, the sessions table and listeners."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from honeyswitch.record.eventlog import EventLog
from honeyswitch.record.recorder import Recorder, session_row
from honeyswitch.record.writer import Writer
from honeyswitch.store.db import Store

SESSION = {"session_id": "s1", "service": "web", "src_ip": "198.51.100.7", "src_port": 4000,
           "dest_ip": "203.0.113.1", "dest_port": 80}


def test_emit_records_everywhere_on_one_writer(tmp_path: Path) -> None:
    writer = Writer()
    log, store = EventLog(tmp_path / "e.jsonl", writer=writer), Store(tmp_path / "hs.db", writer=writer)
    rec = Recorder(log, store)
    seen: list[dict[str, Any]] = []
    rec.subscribe(seen.append)
    rec.subscribe(lambda ev: 1 / 0)  # a broken listener does not stop the others
    rec.emit("session_start", SESSION, state="mirror", main="tcp://m:1", honeypot="tcp://h:2")
    rec.emit("switch", SESSION, by="operator", reason="test", align="bytes", score=12.0,
             main_bytes_to_client=0, honeypot_bytes=0)
    rec.emit("session_end", SESSION, state="honeypot", reason="client closed", duration=1.5,
             bytes_from_client=10, bytes_main_to_client=0, bytes_from_honeypot=20, score=12.0,
             switched=True, transcript="/t/s1.jsonl")
    writer.flush()
    assert [e["event_type"] for e in seen] == ["session_start", "switch", "session_end"]
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert [json.loads(x)["event_type"] for x in lines] == ["session_start", "switch", "session_end"]
    assert len(store.events(session_id="s1")) == 3
    row = store.session("s1")
    assert row is not None and row["state"] == "honeypot" and row["switched"] is True
    assert row["started"] == seen[0]["timestamp"] and row["ended"] == seen[2]["timestamp"]
    assert row["bytes_from_honeypot"] == 20 and row["transcript"] == "/t/s1.jsonl"
    log.close()
    store.close()
    writer.close()


def test_unknown_event_type_raises() -> None:
    with pytest.raises(ValueError):
        Recorder().emit("nonsense")


def test_session_row_ignores_other_events() -> None:
    assert session_row({"event_type": "alert", "session_id": "s1"}) is None
    assert session_row({"event_type": "session_start", "session_id": None}) is None
    assert session_row({"event_type": "switch", "session_id": "s1"}) == {"session_id": "s1", "switched": True}


def test_events_queued_past_the_writer_limit_are_counted_as_dropped(tmp_path: Path) -> None:
    import threading

    writer = Writer(maxsize=5)
    log, store = EventLog(tmp_path / "e.jsonl", writer=writer), Store(tmp_path / "hs.db", writer=writer)
    rec = Recorder(log, store)
    gate = threading.Event()
    writer.submit(gate.wait, critical=True)
    seen: list[dict[str, Any]] = []
    rec.subscribe(seen.append)
    for i in range(8):
        rec.emit("session_start", {**SESSION, "session_id": f"s{i}"}, state="mirror")
    gate.set()
    writer.flush()
    assert len(seen) == 8 and writer.dropped == 3  # listeners still see every event
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 5
    assert [r["session_id"] for r in store.sessions()] == [f"s{i}" for i in range(5)][::-1]
    log.close()
    store.close()
    writer.close()


def test_a_short_sessions_rows_in_one_batch_become_one_upsert(tmp_path: Path) -> None:
    writer = Writer(linger=10.0)  # everything below lands in one batch
    log, store = EventLog(tmp_path / "e.jsonl", writer=writer), Store(tmp_path / "hs.db", writer=writer)
    rec = Recorder(log, store)
    statements: list[str] = []
    store._write.set_trace_callback(statements.append)
    for sid in ("a", "b"):
        s = {**SESSION, "session_id": sid}
        rec.emit("session_start", s, state="mirror", main="tcp://m:1", honeypot="tcp://h:2")
        rec.emit("session_end", s, state="mirror", reason="client closed", duration=0.1, bytes_from_client=1,
                 bytes_main_to_client=2, bytes_from_honeypot=3, score=0.0, switched=False, transcript=None)
    writer.flush()
    store._write.set_trace_callback(None)
    assert sum(s.startswith("INSERT INTO sessions") for s in statements) == 2  # one per session
    assert sum(s.startswith("INSERT INTO events") for s in statements) == 4
    assert sum(s == "COMMIT" for s in statements) == 1
    for sid in ("a", "b"):
        row = store.session(sid)
        assert row is not None and row["state"] == "mirror" and row["reason"] == "client closed"
        assert row["src_port"] == 4000 and row["bytes_from_honeypot"] == 3 and row["transcript"] is None
        assert row["started"] < row["ended"] or row["started"] == row["ended"]
    log.close()
    store.close()
    writer.close()
