"""Transcripts: the history ring, persisting, ordering, the size bound, the reader."""
from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from honeyswitch.record.transcripts import RECORD_COST, TranscriptStore, read_transcript

META = {"session_id": "s1", "service": "web", "src_ip": "198.51.100.7", "src_port": 40000,
        "dest_ip": "203.0.113.1", "dest_port": 80, "main": "tcp://127.0.0.1:8080",
        "honeypot": "tcp://127.0.0.1:8081", "state": "mirror"}


def _store(tmp_path: Path, history: int = 1 << 20, max_bytes: int = 1 << 24) -> TranscriptStore:
    return TranscriptStore(tmp_path / "tr", history, max_bytes)


def _read(path: Path) -> list[dict[str, Any]]:
    return list(read_transcript(path))


def test_never_persisted_leaves_no_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    tr = store.open("s1", META)
    tr.add("client", b"GET / HTTP/1.0\r\n\r\n")
    tr.add("main", b"HTTP/1.0 200 OK\r\n\r\n")
    assert tr.close() is None
    store.close()
    assert not (tmp_path / "tr").exists() or not any((tmp_path / "tr").iterdir())


def test_persist_writes_header_then_history_then_later_records(tmp_path: Path) -> None:
    store = _store(tmp_path)
    tr = store.open("s1", META)
    tr.add("client", b"one")
    tr.add("main", b"two")
    tr.add("honeypot", b"two'")
    tr.mark("switch", by="detector:signature", reason="sqli")
    path = tr.persist()
    assert tr.persist() == path  # idempotent
    tr.add("client", b"three")
    tr.add("honeypot", b"four")
    assert tr.close() == path == tmp_path / "tr" / "s1.jsonl"
    tr.add("client", b"after close is ignored")
    store.close()
    recs = _read(path)
    assert recs[0]["header"] == "honeyswitch-transcript" and recs[0]["meta"] == META
    assert recs[0]["dropped_records"] == 0
    body = [(r.get("s") or r.get("mark"), r.get("d")) for r in recs[1:]]
    assert body == [("client", b"one"), ("main", b"two"), ("honeypot", b"two'"), ("switch", None),
                    ("client", b"three"), ("honeypot", b"four"), ("end", None)]
    assert recs[4]["by"] == "detector:signature"
    times = [r["t"] for r in recs[1:]]
    assert times == sorted(times)
    assert recs[-1] == {"t": recs[-1]["t"], "mark": "end", "truncated": False, "omitted_bytes": 0}
    assert not stat.S_IMODE(path.stat().st_mode) & 0o007


def test_ring_keeps_the_last_bytes_and_counts_the_rest(tmp_path: Path) -> None:
    history = 10 * (100 + RECORD_COST)  # room for exactly ten 100-byte records
    store = _store(tmp_path, history=history)
    tr = store.open("s1", META)
    for i in range(25):
        tr.add("client" if i % 2 == 0 else "main", bytes([65 + i]) * 100)
    path = tr.persist()
    tr.close()
    store.close()
    recs = _read(path)
    header, data = recs[0], [r for r in recs if "d" in r]
    assert [r["d"][0] - 65 for r in data] == list(range(15, 25))
    assert header["dropped_records"] == 15
    assert header["dropped_bytes"] == {"client": 800, "main": 700, "honeypot": 0}


def test_a_record_bigger_than_the_ring_keeps_its_tail(tmp_path: Path) -> None:
    store = _store(tmp_path, history=1000)
    tr = store.open("s1", META)
    tr.add("main", b"x" * 10)
    tr.add("client", bytes(range(256)) * 10)
    path = tr.persist()
    tr.close()
    store.close()
    header, rec = _read(path)[:2]
    keep = 1000 - RECORD_COST
    assert rec["d"] == (bytes(range(256)) * 10)[-keep:]
    assert header["dropped_bytes"] == {"client": 2560 - keep, "main": 10, "honeypot": 0}


def test_max_bytes_truncates_with_a_marker(tmp_path: Path) -> None:
    store = _store(tmp_path, max_bytes=4096)
    tr = store.open("s1", META)
    tr.persist()
    for _ in range(100):
        tr.add("honeypot", b"z" * 300)
    tr.mark("after the limit")
    path = tr.close()
    store.close()
    assert path is not None and path.stat().st_size < 4096 + 200
    recs = _read(path)
    marks = [r["mark"] for r in recs if "mark" in r]
    assert marks == ["truncated", "end"]
    written = sum(len(r["d"]) for r in recs if "d" in r)
    assert recs[-1]["truncated"] is True and recs[-1]["omitted_bytes"] == 100 * 300 - written
    assert tr.truncated


def test_direct_session_persists_from_the_start(tmp_path: Path) -> None:
    store = _store(tmp_path)
    tr = store.open("d1", {**META, "session_id": "d1", "state": "direct"})
    tr.persist()
    tr.add("client", b"hi")
    store.flush()  # records reach the file while the session is live
    assert [r.get("d") for r in _read(tmp_path / "tr" / "d1.jsonl")] == [None, b"hi"]
    tr.close()
    store.close()


@pytest.mark.parametrize("sid", ["../etc/passwd", "a/b", "", ".hidden", "x" * 200, "a\nb"])
def test_unsafe_session_ids_are_refused(tmp_path: Path, sid: str) -> None:
    store = _store(tmp_path)
    with pytest.raises(ValueError):
        store.open(sid, META)
    store.close()


def test_unknown_stream_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(ValueError):
        store.open("s1", META).add('client","x":"', b"data")
    store.close()


def test_reader_skips_bad_lines(tmp_path: Path) -> None:
    good = {"t": 1.0, "s": "client", "d": base64.b64encode(b"ok").decode()}
    lines = [
        json.dumps({"t": 0.5, "header": "honeyswitch-transcript", "meta": META}),
        json.dumps(good),
        "not json at all",
        json.dumps([1, 2, 3]),
        json.dumps({"t": 2.0, "s": "elsewhere", "d": "aGk="}),  # unknown stream
        json.dumps({"t": 2.0, "s": "main", "d": "***"}),  # bad base64
        json.dumps({"s": "main", "d": "aGk="}),  # no time
        json.dumps({"t": 2.5, "what": "is this"}),  # neither data, mark nor header
        "\xff\xfe garbage",
        json.dumps({"t": 3.0, "mark": "switch", "by": "operator"}),
        '{"t": 4.0, "s": "honeypot", "d": "aGVsbG8',  # cut short: the daemon died mid-write
    ]
    path = tmp_path / "t.jsonl"
    path.write_bytes(("\n".join(lines)).encode("utf-8", "surrogateescape"))
    recs = _read(path)
    assert [r.get("header") or r.get("mark") or r["d"] for r in recs] == [
        "honeyswitch-transcript", b"ok", "switch"]


def test_many_records_from_a_busy_session(tmp_path: Path) -> None:
    store = _store(tmp_path)
    tr = store.open("busy", {**META, "session_id": "busy"})
    tr.persist()
    sent = []
    for i in range(5000):
        chunk = i.to_bytes(4, "big")
        sent.append(chunk)
        tr.add("client", chunk)
    tr.close()
    store.close()
    assert [r["d"] for r in _read(tmp_path / "tr" / "busy.jsonl") if "d" in r] == sent


def test_all_rings_together_stay_within_history_total(tmp_path: Path) -> None:
    from honeyswitch.record.transcripts import HISTORY_FLOOR

    store = TranscriptStore(tmp_path / "tr", 64 << 10, 1 << 24, history_total=256 << 10)
    many = [store.open(f"s{i}", {}) for i in range(100)]
    for _ in range(40):  # 100 clients x 40 x 1 KiB: 4 MB offered, 6.4 MB of ring space asked
        for t in many:
            t.add("client", b"x" * 1024)
    live = sum(t._ring_size for t in many)
    assert live == store.ring_total
    # Past the total every ring keeps only a tail; the first ones keep more.
    assert store.ring_total <= (256 << 10) + 100 * HISTORY_FLOOR
    assert all(t._ring_size <= 64 << 10 for t in many)
    # The history of a session that switches now is its tail, and says what it lost.
    path = many[-1].persist()
    many[-1].close()
    store.flush()
    header = _read(path)[0]
    assert header["dropped_bytes"]["client"] > 0
    # Persisting and closing give the budget back.
    for t in many:
        t.close()
    assert store.ring_total == 0
    store.close()
