"""Reading transcript files and showing them to people (``honeyswitch transcript ID``).

A transcript may be cut short (the daemon died mid-write) or hand-edited, so the reader
skips any line it cannot parse rather than give up.  The text view escapes every byte
that is not printable ASCII: a transcript is attacker input, and printing it raw would
let ANSI/OSC escapes hidden in it act on the operator's terminal.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from .escape import escape_bytes, escape_text

_STREAMS = ("client", "main", "honeypot")
_LABELS = {"client": "client >>", "main": "<< main", "honeypot": "<< honeypot"}


def read_transcript(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield the records of a transcript file, with ``d`` decoded to bytes.

    The header, data records and marks come in file order; lines that are not valid
    records (a truncated last line, garbage) are skipped."""
    with open(path, "rb") as f:
        for raw in f:
            rec = _parse(raw)
            if rec is not None:
                yield rec


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(raw)
    except ValueError:  # includes bad UTF-8
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("t"), (int, float)):
        return None
    if "d" in rec:
        if rec.get("s") not in _STREAMS or not isinstance(rec["d"], str):
            return None
        try:
            rec["d"] = base64.b64decode(rec["d"], validate=True)
        except (binascii.Error, ValueError):
            return None
    elif "mark" not in rec and "header" not in rec:
        return None
    return rec


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _fields(rec: dict[str, Any], skip: tuple[str, ...]) -> str:
    parts = []
    for key, value in rec.items():
        if key in skip:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=True, default=str)
        parts.append(f"{escape_text(str(key))}={escape_text(text)}")
    return " ".join(parts)


def _header(rec: dict[str, Any]) -> list[str]:
    meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
    lines = [f"=== transcript {escape_text(str(rec.get('session_id', '?')))} "
             f"started {_when(rec['t'])} UTC ==="]
    if meta:
        lines.append("    " + _fields(meta, ()))
    if rec.get("dropped_records"):
        lines.append(f"    (history before this point was cut: {rec['dropped_records']} records, "
                     f"bytes {_fields(rec.get('dropped_bytes') or {}, ())})")
    return lines


def _mark(rec: dict[str, Any]) -> list[str]:
    note = escape_text(str(rec["mark"]))
    details = _fields(rec, ("t", "mark"))
    if note == "switch":
        bar = "#" * 20
        return [f"{_when(rec['t'])} {bar} SWITCH TO HONEYPOT {bar}", f"    {details}"]
    return [f"{_when(rec['t'])} --- {note} {details}".rstrip()]


def _data(rec: dict[str, Any]) -> list[str]:
    data: bytes = rec["d"]
    lines = [f"{_when(rec['t'])} {_LABELS[rec['s']]} {len(data)} bytes"]
    # One output line per line of data (the \n stays visible as an escape), so
    # requests and banners read naturally and nothing is ambiguous.
    for piece in data.splitlines(keepends=True):
        lines.append("    " + escape_bytes(piece))
    return lines


def render_text(records: Iterable[dict[str, Any]]) -> str:
    """The records as text for a terminal: one block per record, all bytes escaped."""
    out: list[str] = []
    for rec in records:
        if "header" in rec:
            block = _header(rec)
        elif "mark" in rec:
            block = _mark(rec)
        else:
            block = _data(rec)
        out.extend(block)
        out.append("")
    return "\n".join(out)
