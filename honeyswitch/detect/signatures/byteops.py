"""``byte_test`` and ``byte_jump``: read a number out of the buffer, compare or skip.

Syntax as in Suricata 7::

    byte_test:<n>, [!]<op>, <value>, <offset> [,relative] [,big|little]
              [,string,hex|dec|oct] [,bitmask <m>]
    byte_jump:<n>, <offset> [,relative] [,multiplier <m>] [,big|little]
              [,string,hex|dec|oct] [,align] [,from_beginning|from_end]
              [,post_offset <n>] [,bitmask <m>]

Values or offsets taken from ``byte_extract`` variables, and ``dce``, are unsupported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import Unsupported, invalid
from .values import parse_int, split_args

_OPS = frozenset({"<", ">", "=", "<=", ">=", "&", "^"})
_BASES = {"hex": 16, "dec": 10, "oct": 8}
_DIGITS = {16: re.compile(rb"[0-9a-fA-F]+"), 10: re.compile(rb"[0-9]+"), 8: re.compile(rb"[0-7]+")}
MAX_STRING_BYTES = 20


@dataclass(frozen=True, slots=True)
class Extract:
    """How to read the number: size, offset, endianness or text base, bitmask."""

    nbytes: int  # 0 with a text base: up to the end of the buffer
    offset: int
    relative: bool = False
    little: bool = False
    base: int = 0  # 0: binary; else the text base
    bitmask: int = 0

    def read(self, data: bytes, pos: int) -> int | None:
        """The number at ``pos`` (window coordinates), or None if unreadable."""
        size = self.nbytes or min(len(data) - pos, MAX_STRING_BYTES)  # 0: to the end
        if pos < 0 or size <= 0 or pos + size > len(data):
            return None
        raw = data[pos : pos + size]
        if self.base:
            m = _DIGITS[self.base].match(raw.lstrip(b" \t"))
            if not m:
                return None
            value = int(m.group(0), self.base)
        else:
            value = int.from_bytes(raw, "little" if self.little else "big")
        if self.bitmask:
            value &= self.bitmask
            mask = self.bitmask
            while mask and not mask & 1:
                value >>= 1
                mask >>= 1
        return value


@dataclass(frozen=True, slots=True)
class ByteTest:
    extract: Extract
    op: str
    value: int
    negated: bool

    @property
    def relative(self) -> bool:
        return self.extract.relative

    def compare(self, found: int) -> bool:
        op, v = self.op, self.value
        result = {"<": found < v, ">": found > v, "=": found == v, "<=": found <= v,
                  ">=": found >= v, "&": bool(found & v), "^": bool(found ^ v)}[op]
        return result != self.negated


@dataclass(frozen=True, slots=True)
class ByteJump:
    extract: Extract
    multiplier: int = 1
    align: bool = False
    origin: str = ""  # "", "from_beginning", "from_end"
    post_offset: int = 0

    @property
    def relative(self) -> bool:
        return self.extract.relative


def _number(text: str, what: str) -> int:
    text = text.strip()
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        raise Unsupported("byte_extract variables")
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise invalid(what, f"bad number {text[:30]!r}") from None
    if abs(value) > 1 << 64:
        raise invalid(what, "number out of range")
    return value


def _common(args: list[str], what: str, nbytes: int, offset: int) -> tuple[Extract, list[str]]:
    """Parse the flags shared by byte_test and byte_jump; return leftover words."""
    relative = little = False
    base = bitmask = 0
    rest: list[str] = []
    i = 0
    while i < len(args):
        word = args[i].lower()
        if word == "relative":
            relative = True
        elif word in ("big", "little"):
            little = word == "little"
        elif word == "string":
            base = 10
        elif word in _BASES:
            base = _BASES[word]
        elif word.startswith("bitmask"):
            bitmask = _number(word[7:], what)
        elif word == "dce":
            raise Unsupported("dce byte options")
        else:
            rest.append(args[i])
        i += 1
    limit = MAX_STRING_BYTES if base else 8
    if not (1 if not base else 0) <= nbytes <= limit:
        raise invalid(what, f"cannot read {nbytes} bytes")
    return Extract(nbytes, offset, relative, little, base, bitmask), rest


def parse_byte_test(value: str | None) -> ByteTest:
    args = split_args(value)
    if len(args) < 4:
        raise invalid("byte_test", "needs bytes, operator, value, offset")
    op = args[1].replace(" ", "")
    negated = op.startswith("!")
    op = op[1:] if negated else op
    if op == "":
        op = "="
    if op not in _OPS:
        raise invalid("byte_test", f"bad operator {args[1][:10]!r}")
    nbytes = parse_int(args[0], "byte_test", 0, 64)
    extract, rest = _common(args[4:], "byte_test", nbytes, _offset(args[3], "byte_test"))
    if rest:
        raise invalid("byte_test", f"unknown argument {rest[0][:30]!r}")
    return ByteTest(extract, op, _number(args[2], "byte_test"), negated)


def parse_byte_jump(value: str | None) -> ByteJump:
    args = split_args(value)
    if len(args) < 2:
        raise invalid("byte_jump", "needs bytes and offset")
    nbytes = parse_int(args[0], "byte_jump", 0, 64)
    extract, rest = _common(args[2:], "byte_jump", nbytes, _offset(args[1], "byte_jump"))
    multiplier, post, align, origin = 1, 0, False, ""
    for word in rest:
        low = word.lower()
        if low.startswith("multiplier"):
            multiplier = parse_int(low[10:], "byte_jump", 1, 65535)
        elif low.startswith("post_offset"):
            post = parse_int(low[11:], "byte_jump", -(1 << 20), 1 << 20)
        elif low == "align":
            align = True
        elif low in ("from_beginning", "from_end"):
            origin = low
        else:
            raise invalid("byte_jump", f"unknown argument {word[:30]!r}")
    return ByteJump(extract, multiplier, align, origin, post)


def _offset(text: str, what: str) -> int:
    if re.fullmatch(r"\s*[A-Za-z_]\w*\s*", text):
        raise Unsupported("byte_extract variables")
    return parse_int(text, what, -(1 << 20), 1 << 20)


def jump_target(op: ByteJump, data: bytes, pos: int, base: int) -> int | None:
    """Where ``byte_jump`` lands (window coordinates), or None if it cannot."""
    value = op.extract.read(data, pos)
    if value is None:
        return None
    amount = value * op.multiplier
    if op.origin == "from_beginning":
        target = -base + amount
    elif op.origin == "from_end":
        target = len(data) + amount
    else:
        target = pos + op.extract.nbytes + amount
    if op.align and (target + base) % 4:
        target += 4 - (target + base) % 4
    target += op.post_offset
    return target if 0 <= target <= len(data) else None
