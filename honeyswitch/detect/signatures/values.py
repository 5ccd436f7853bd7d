"""Parsers for the small values inside rule options.

Quoted strings with ``|hex|`` sections and backslash escapes, bounded integers, and the
comparison syntax shared by ``dsize``, ``bsize`` and ``urilen`` (``N``, ``<N``, ``>N``,
``<=N``, ``>=N``, ``!N``, ``N<>M``).  Everything raises :class:`RuleError` on bad text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import RuleError, invalid

MAX_CONTENT = 4096  # bytes; longer contents exist nowhere sane and only cost memory
MAX_NUMBER = 1 << 30

_ESCAPABLE = frozenset('"\\;:|')
_HEX = frozenset("0123456789abcdefABCDEF")
_INT = re.compile(r"^\s*([+-]?\d{1,12})\s*$")
_CMP = re.compile(r"^\s*(!|<=|>=|<|>|=)?\s*(\d{1,12})\s*(?:<>\s*(\d{1,12})\s*)?$")


def unquote(text: str) -> str:
    """Strip one pair of surrounding double quotes, if present."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


def parse_int(text: str | None, what: str, lo: int = -MAX_NUMBER, hi: int = MAX_NUMBER) -> int:
    """A decimal integer within [lo, hi]."""
    m = _INT.match(text or "")
    if not m:
        raise invalid(what, f"not an integer: {text!r}")
    value = int(m.group(1))
    if not lo <= value <= hi:
        raise invalid(what, f"{value} out of range {lo}..{hi}")
    return value


def parse_content(text: str | None) -> tuple[bytes, bool]:
    """``content`` text -> (bytes, negated); handles ``!``, quotes, ``|hex|``, escapes."""
    text = (text or "").strip()
    negated = text.startswith("!")
    if negated:
        text = text[1:].strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    elif '"' in text:
        raise invalid("content", "unbalanced quotes")
    value = decode_string(text)
    if not value:
        raise invalid("content", "empty pattern")
    if len(value) > MAX_CONTENT:
        raise invalid("content", f"longer than {MAX_CONTENT} bytes")
    return value, negated


def decode_string(text: str) -> bytes:
    """Decode the inside of a content string: ``|41 42|`` hex and ``\\"`` escapes."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "|":
            end = text.find("|", i + 1)
            if end < 0:
                raise invalid("content", "unterminated |hex| section")
            out += _decode_hex(text[i + 1 : end])
            i = end + 1
        elif ch == "\\":
            if i + 1 >= n or text[i + 1] not in _ESCAPABLE:
                raise invalid("content", f"bad escape at {i}")
            out += text[i + 1].encode()
            i += 2
        elif ch == '"':
            raise invalid("content", "unescaped quote")
        else:
            try:
                out += ch.encode("latin-1")
            except UnicodeEncodeError:
                out += ch.encode("utf-8")
            i += 1
    return bytes(out)


def _decode_hex(section: str) -> bytes:
    digits = "".join(section.split())
    if len(digits) % 2 or any(c not in _HEX for c in digits):
        raise invalid("content", f"bad hex section |{section[:40]}|")
    return bytes.fromhex(digits)


@dataclass(frozen=True, slots=True)
class Comparison:
    """``N``, ``<N``, ``>N``, ``<=N``, ``>=N``, ``!N`` or the open range ``N<>M``."""

    op: str  # "=", "!", "<", ">", "<=", ">=", "<>"
    value: int
    high: int = 0

    def test(self, n: int) -> bool:
        op, v = self.op, self.value
        if op == "=":
            return n == v
        if op == "!":
            return n != v
        if op == "<":
            return n < v
        if op == ">":
            return n > v
        if op == "<=":
            return n <= v
        if op == ">=":
            return n >= v
        return v < n < self.high


def parse_comparison(text: str | None, what: str) -> Comparison:
    """Parse the ``dsize``/``bsize``/``urilen`` value syntax."""
    m = _CMP.match(text or "")
    if not m:
        raise invalid(what, f"bad comparison {text!r}")
    op, a, b = m.group(1), int(m.group(2)), m.group(3)
    if b is not None:
        if op:
            raise invalid(what, f"bad comparison {text!r}")
        if int(b) <= a:
            raise invalid(what, "range max must exceed min")
        return Comparison("<>", a, int(b))
    return Comparison(op or "=", a)


def split_args(text: str | None) -> list[str]:
    """Comma-separated option arguments, stripped, empty ones dropped."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def require_value(name: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise RuleError(f"invalid {name}", "missing value")
    return value
