"""The JSON-lines event log: one line per event, hostile bytes escaped, reopen."""
from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from honeyswitch.events import make_event
from honeyswitch.record.eventlog import EventLog
from honeyswitch.record.writer import Writer

HOSTILE = "GET /\r\n\x1b[2J\x1b]0;owned\x07\x00\u2028é"


def _lines(path: Path) -> list[str]:
    return path.read_text("ascii").splitlines()


def test_one_compact_ascii_line_per_event(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.write(make_event("alert", {"session_id": "s1"}, detector="signature", score=5.0, reason=HOSTILE))
    log.write(make_event("daemon_stop", None, reason="test"))
    log.close()
    raw = (tmp_path / "events.jsonl").read_bytes()
    assert raw.count(b"\n") == 2 and raw.endswith(b"\n")
    assert all(b < 0x7F and (b >= 0x20 or b == 0x0A) for b in raw)  # no control bytes at all
    first = json.loads(raw.splitlines()[0])
    assert first["reason"] == HOSTILE and first["session_id"] == "s1"
    assert ", " not in raw.decode() and '": ' not in raw.decode()


def test_bytes_and_odd_values_are_serialised(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.jsonl")
    log.write(make_event("alert", None, detector="x", score=1, payload=b"\x1b[31mhi\n", where=tmp_path, tags={"a"}))
    log.close()
    ev = json.loads(_lines(tmp_path / "e.jsonl")[0])
    assert ev["payload"] == "\\x1b[31mhi\\n"
    assert ev["where"] == str(tmp_path) and ev["tags"] == ["a"]


def test_reopen_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.write(make_event("daemon_start", None))
    log.flush()
    os.rename(path, tmp_path / "events.jsonl.1")
    log.write(make_event("config_reload", None, ok=True))  # still goes to the moved file
    log.reopen()
    log.write(make_event("daemon_stop", None))
    log.close()
    old = [json.loads(x)["event_type"] for x in _lines(tmp_path / "events.jsonl.1")]
    new = [json.loads(x)["event_type"] for x in _lines(path)]
    assert old == ["daemon_start", "config_reload"] and new == ["daemon_stop"]


def test_file_is_not_world_readable_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.jsonl"
    for n in range(2):
        log = EventLog(path)
        log.write(make_event("daemon_start", None, pid=n))
        log.close()
    assert [json.loads(x)["pid"] for x in _lines(path)] == [0, 1]
    assert not stat.S_IMODE(path.stat().st_mode) & 0o007


def test_shared_writer_is_left_running(tmp_path: Path) -> None:
    w = Writer()
    log = EventLog(tmp_path / "e.jsonl", writer=w)
    log.write(make_event("daemon_start", None))
    log.close()
    assert not w.closed and len(_lines(tmp_path / "e.jsonl")) == 1
    w.close()


def test_dropped_when_the_writer_is_full(tmp_path: Path) -> None:
    w = Writer(maxsize=0)
    log = EventLog(tmp_path / "e.jsonl", writer=w)
    assert log.write(make_event("daemon_start", None)) is False
    assert w.dropped == 1
    log.close()
    w.close()


_APPENDER = """
import sys
from honeyswitch.events import make_event
from honeyswitch.record.eventlog import EventLog
from honeyswitch.record.writer import Writer

path, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = EventLog(path, writer=Writer(linger=float(sys.argv[4])))
for i in range(n):
    # Lines from a few bytes to tens of KiB: a torn or interleaved write would show.
    log.write(make_event("daemon_stop", None, reason=f"{who}:{i}:" + who * (i * 997 % 40_000)))
    if i % 50 == 0:
        log.flush()  # many batches, each its own write(2)
log.close()
log.writer.close()
"""


def test_processes_appending_at_once_leave_only_whole_lines(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "events.jsonl"
    n = 400
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), who, str(n), linger])
             for who, linger in (("a", "0"), ("b", "0.01"), ("c", "0"), ("d", "0.05"))]
    for p in procs:
        assert p.wait(60) == 0
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    seen: dict[str, list[int]] = {}
    for line in raw.split(b"\n")[:-1]:
        reason = json.loads(line)["reason"]  # raises on a torn or mixed line
        who, i, rest = reason.split(":", 2)
        assert rest == who * (int(i) * 997 % 40_000)
        seen.setdefault(who, []).append(int(i))
    assert {who: sorted(v) for who, v in seen.items()} == {who: list(range(n)) for who in "abcd"}
    assert all(v == sorted(v) for v in seen.values())  # each process's lines in its order


def test_a_batch_is_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.write

    def counting(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real(fd, data)

    w = Writer()
    log = EventLog(tmp_path / "e.jsonl", writer=w)
    monkeypatch.setattr(os, "write", counting)
    gate = threading.Event()
    w.submit(gate.wait, critical=True)  # the next events all land in one batch
    for i in range(100):
        log.write(make_event("daemon_start", None, pid=i))
    gate.set()
    log.flush()
    assert len(calls) == 1 and len(_lines(tmp_path / "e.jsonl")) == 100
    log.close()
    w.close()


def test_lines_of_a_batch_before_reopen_go_to_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    w = Writer()
    log = EventLog(path, writer=w)
    log.write(make_event("daemon_start", None))
    log.flush()
    os.rename(path, tmp_path / "old")
    gate = threading.Event()
    w.submit(gate.wait, critical=True)
    log.write(make_event("config_reload", None, ok=True))  # same batch as the reopen
    log.reopen()
    log.write(make_event("daemon_stop", None))
    gate.set()
    log.close()
    w.close()
    assert [json.loads(x)["event_type"] for x in _lines(tmp_path / "old")] == ["daemon_start", "config_reload"]
    assert [json.loads(x)["event_type"] for x in _lines(path)] == ["daemon_stop"]
