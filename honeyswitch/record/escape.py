"""Making attacker-controlled bytes safe to write and to show.

Events and transcripts quote what clients sent.  A log line must stay one line whatever
the bytes (no newline injection into the JSON-lines log), and a terminal showing a
transcript must not obey escape sequences hidden in it (ANSI/OSC escapes can retitle or
rewrite a terminal).  JSON with ``ensure_ascii`` escapes every control and non-ASCII
character; :func:`escape_bytes` renders raw bytes as printable ASCII for people.
"""
from __future__ import annotations

import base64
import dataclasses
import enum
import json
import os
from datetime import date, datetime
from json.encoder import encode_basestring_ascii as _quote  # the C escaping, as json.dumps uses
from typing import Any


def _table() -> tuple[str, ...]:
    out = []
    for b in range(256):
        if b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x0D:
            out.append("\\r")
        elif b == 0x09:
            out.append("\\t")
        else:
            out.append(f"\\x{b:02x}")
    return tuple(out)


_ESCAPED = _table()


def escape_bytes(data: bytes) -> str:
    """Printable ASCII stays; backslash, \\n, \\r, \\t and every other byte are escaped
    (``\\xNN``), so the result holds no control character at all."""
    return "".join([_ESCAPED[b] for b in data])


def escape_text(text: str) -> str:
    """:func:`escape_bytes` for a string (UTF-8 encoded first)."""
    return escape_bytes(text.encode("utf-8", "surrogateescape"))


def json_default(obj: Any) -> Any:
    """Turn the odd values detectors put in event fields into JSON ones."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return escape_bytes(bytes(obj))
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return str(obj)


def dumps(obj: Any) -> str:
    """One compact, ASCII-only JSON line (without the newline).

    Every event goes through here (twice per session at least), so a flat dict of
    strings, numbers, booleans and None, which events mostly are, is written directly:
    the same text as the json module's (its own C string escaping, ``float.__repr__``),
    without building an encoder per call.  Anything else goes to the json module."""
    if type(obj) is dict:
        return _dict(obj)
    return _json(obj)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=json_default)


_KEYS: dict[str, str] = {}  # key -> its JSON text and ":" (event keys are few)
_KEYS_MAX = 4096


def _dict(obj: dict[Any, Any]) -> str:
    parts: list[str] = []
    for key, value in obj.items():
        if type(key) is not str:
            return _json(obj)  # the json module's rules for other keys
        name = _KEYS.get(key)
        if name is None:
            name = _quote(key) + ":"
            if len(_KEYS) < _KEYS_MAX:
                _KEYS[key] = name
        kind = type(value)
        if value is None:
            text = "null"
        elif value is True:
            text = "true"
        elif value is False:
            text = "false"
        elif kind is str:
            text = _quote(value)
        elif kind is int:
            text = str(value)
        elif kind is float and value - value == 0.0:  # finite (nan and inf: the json module)
            text = repr(value)
        else:
            text = _json(value)  # nested or odd values, whole
        parts.append(name + text)
    return "{" + ",".join(parts) + "}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
