"""render_text: hostile bytes never reach the terminal raw; the switch stands out."""
from __future__ import annotations

from honeyswitch.record.escape import escape_bytes
from honeyswitch.record.render import render_text

HOSTILE = b"\x1b[2J\x1b]0;pwned\x07\x9b31m\x00\x7f\\x41 ok\r\nnext\xff"
RECORDS = [
    {"t": 1795633763.0, "header": "honeyswitch-transcript", "session_id": "s1",
     "meta": {"service": "web", "src_ip": "198.51.100.7", "note": "\x1b[31mred"},
     "dropped_records": 2, "dropped_bytes": {"client": 10, "main": 0, "honeypot": 0}},
    {"t": 1795633763.25, "s": "client", "d": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
    {"t": 1795633763.5, "mark": "switch", "by": "detector:signature", "reason": "evil\x1b[0m\n"},
    {"t": 1795633764.0, "s": "honeypot", "d": HOSTILE},
    {"t": 1795633765.0, "mark": "end", "truncated": False, "omitted_bytes": 0},
]


def test_no_control_characters_survive() -> None:
    text = render_text(RECORDS)
    assert all(c == "\n" or " " <= c <= "~" for c in text), "only printable ASCII and newlines"
    assert "\\x1b[2J" in text and "\\x1b]0;pwned\\x07" in text and "\\x9b31m" in text
    assert "\\x00\\x7f\\\\x41 ok\\r\\n" in text and "next\\xff" in text
    assert "evil\\x1b[0m\\n" in text and "\\x1b[31mred" in text


def test_layout() -> None:
    lines = render_text(RECORDS).splitlines()
    assert lines[0] == "=== transcript s1 started 2026-11-25 19:09:23.000000 UTC ==="
    assert "service=web" in lines[1]
    assert "2 records" in lines[2]
    assert "2026-11-25 19:09:23.250000 client >> 27 bytes" in lines
    assert "    GET / HTTP/1.1\\r\\n" in lines and "    Host: x\\r\\n" in lines
    switch = [x for x in lines if "SWITCH TO HONEYPOT" in x]
    assert switch == ["2026-11-25 19:09:23.500000 #################### SWITCH TO HONEYPOT ####################"]
    assert "2026-11-25 19:09:24.000000 << honeypot 34 bytes" in lines
    assert lines[-1].startswith("2026-11-25 19:09:25.000000 --- end truncated=false")


def test_escape_bytes_table() -> None:
    assert escape_bytes(bytes(range(256))).isascii()
    assert escape_bytes(b"a\tb\\c\x00") == "a\\tb\\\\c\\x00"
    assert all(c.isprintable() for c in escape_bytes(bytes(range(256))))
