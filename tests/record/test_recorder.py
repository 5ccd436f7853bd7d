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
