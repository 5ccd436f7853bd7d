"""Token-by-token translation of a PCRE pattern into Python ``re`` syntax.

Handles ``(?<name>``, ``\\k<name>``, ``\\x{hh}``, ``\\Q..\\E``, ``\\h``/``\\v``/``\\R``,
POSIX classes, mid-pattern inline flags (made scoped), the ``G`` (ungreedy) and ``E``
flags, and refuses what Python cannot express.  While translating it refuses shapes
that backtrack catastrophically in Python: an unbounded quantifier on a group that
itself holds one (``(a+)+``), or on an alternation whose branches can start with the
same character (``(a|ab)*``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import Unsupported, invalid

MAX_REPEAT = 65535
GATE_REPEAT = 64  # larger bounded repeats are relaxed to unbounded for hyperscan
_POSIX = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z",
          "lower": "a-z", "space": r" \t\n\r\f\v", "blank": r" \t", "punct":
          r"!-/:-@\[-`{-~", "xdigit": "0-9A-Fa-f", "word": r"\w", "cntrl": r"\x00-\x1f\x7f",
          "print": r"\x20-\x7e", "graph": r"\x21-\x7e", "ascii": r"\x00-\x7f"}
_CLASS_ESC = {"h": r"\t \xa0", "v": r"\n\x0b\f\r\x85"}
_NEG_ESC = {"H": r"[^\t \xa0]", "V": r"[^\n\x0b\f\r\x85]", "N": r"[^\n]"}
_PY_LETTER_ESC = frozenset("abBdDfnrsStvwWAZ")
_QUANT = re.compile(r"\{(\d{1,6})(,(\d{0,6}))?\}")


_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_HEAD_SETS: dict[str | None, frozenset[str]] = {
    "\\s": frozenset(" \t\n\r\f\v"), "\\d": frozenset("0123456789"), "\\w": _WORD,
    "\\n": frozenset("\n"), "\\r": frozenset("\r"), "\\t": frozenset("\t"),
    "\\f": frozenset("\f"), "\\a": frozenset("\a"),
}


def _distinct_heads(heads: list[frozenset[str] | None]) -> bool:
    """Can at most one alternative start at any given character?"""
    if len(heads) < 2:
        return True
    seen: set[str] = set()
    for chars in heads:
        if chars is None or seen & chars:
            return False
        seen |= chars
    return True


@dataclass(slots=True)
class _Group:
    unbounded: bool = False  # holds an unbounded quantifier (directly or nested)
    atomic: bool = False  # (?>...) never backtracks into itself
    scoped: str = ""  # mid-pattern inline flags turned into a scoped (?flags: group
    # first-character sets of each alternative (None: unknown), to spot ambiguous
    # alternations under repetition such as (a|ab)*
    heads: list[frozenset[str] | None] = field(default_factory=lambda: [None])
    at_start: bool = True


class _Translator:
    """One pass over a PCRE pattern, emitting Python syntax and spotting risky nesting."""

    def __init__(self, src: str, ungreedy: bool, dollar_endonly: bool,
                 nocase: bool = False) -> None:
        self.src, self.i, self.out = src, 0, []  # type: ignore[var-annotated]
        self.ungreedy, self.dollar_endonly, self.nocase = ungreedy, dollar_endonly, nocase
        self.groups: list[_Group] = [_Group()]
        # (start, end, text) edits of the source that make the hyperscan gate pattern:
        # big bounded repeats compile very slowly there ({0,4096}: ~20 s) so the gate
        # gets an unbounded -- looser, still safe -- repeat instead
        self.relaxed: list[tuple[int, int, str]] = []
        self.wide = 0  # unbounded (or large bounded) quantifiers: what makes re slow
        self.last_atom_group: _Group | None = None

    def anchored(self, flags: str) -> bool:
        """Can the pattern only match at the start of the subject?"""
        top = self.groups[0]
        starts = self.src.startswith("^") or self.src.startswith("\\A")
        return "A" in flags or (starts and "m" not in flags and len(top.heads) == 1)

    def run(self) -> str:
        src = self.src
        while self.i < len(src):
            ch = src[self.i]
            if ch == "\\":
                self._escape()
            elif ch == "[":
                self._class()
            elif ch == "(":
                self._open()
            elif ch == ")":
                self._close()
            elif ch == "|":
                self._alternation()
            elif ch in "*+?{":
                self._quantifier()
            elif ch == "$" and self.dollar_endonly:
                self._emit(r"\Z")
                self.i += 1
            else:
                self._emit(ch, head=None if ch in ".^$" else ch)
                self.i += 1
        if len(self.groups) != 1:
            raise invalid("pcre", "unbalanced parentheses")
        if self.groups[0].scoped:
            self.out.append(")")
        return "".join(self.out)

    def _emit(self, text: str, group: _Group | None = None, head: str | None = None) -> None:
        self.out.append(text)
        self.last_atom_group = group
        frame = self.groups[-1]
        if frame.at_start:
            frame.at_start = False
            chars = _HEAD_SETS.get(head, frozenset(head)) if head else None
            if chars is not None and self.nocase:
                chars = frozenset(chars | {c.swapcase() for c in chars})
            frame.heads[-1] = chars

    # ---------------------------------------------------------------- escapes
    def _escape(self) -> None:
        src, i = self.src, self.i
        if i + 1 >= len(src):
            raise invalid("pcre", "trailing backslash")
        c = src[i + 1]
        self.i += 2
        if c == "Q":
            end = src.find("\\E", self.i)
            end = len(src) if end < 0 else end
            self._emit("(?:" + re.escape(src[self.i : end]) + ")" if end > self.i else "")
            self.i = end + 2
        elif c == "E":
            return
        elif c in "xo":
            text = self._numeric_escape(c)
            self._emit(text, head=chr(int(text[2:], 16)))
        elif c in _CLASS_ESC:
            self._emit("[" + _CLASS_ESC[c] + "]")
        elif c in _NEG_ESC:
            self._emit(_NEG_ESC[c])
        elif c == "R":
            self._emit(r"(?:\r\n|[\n\x0b\f\r\x85])")
        elif c == "e":
            self._emit(r"\x1b")
        elif c == "z":
            self._emit(r"\Z")
        elif c == "Z":
            self._emit(r"(?=\n?\Z)")
        elif c == "c":
            self._emit(self._control())
        elif c in "kg":
            self._emit(self._backref(c))
        elif c in "pPXCGKuUL" or c == "N" and self._peek("{"):
            raise Unsupported("pcre construct not supported", f"\\{c}")
        elif c.isdigit():
            self._emit(self._digits(c))
        elif c.isalpha():
            known = c in _PY_LETTER_ESC
            self._emit("\\" + c if known else c, head=("\\" + c) if known else c)
        else:
            self._emit(re.escape(c), head=c)

    def _peek(self, text: str) -> bool:
        return self.src.startswith(text, self.i)

    def _numeric_escape(self, kind: str) -> str:
        src = self.src
        if self._peek("{"):
            end = src.find("}", self.i)
            if end < 0:
                raise invalid("pcre", "bad \\x{..} escape")
            digits, self.i = src[self.i + 1 : end], end + 1
            base = 16 if kind == "x" else 8
        elif kind == "x":
            m = re.match(r"[0-9a-fA-F]{0,2}", src[self.i :])
            digits, base = m.group(0) if m else "", 16
            self.i += len(digits)
        else:
            raise Unsupported("pcre construct not supported", "\\o")
        try:
            value = int(digits or "0", base)
        except ValueError:
            raise invalid("pcre", "bad numeric escape") from None
        if value > 0xFF:
            raise Unsupported("pcre construct not supported", "code point above 0xff")
        return f"\\x{value:02x}"

    def _control(self) -> str:
        if self.i >= len(self.src):
            raise invalid("pcre", "bad \\c escape")
        ch = self.src[self.i].upper()
        self.i += 1
        return "\\x%02x" % (ord(ch) ^ 0x40 if ord(ch) < 128 else 0)

    def _backref(self, kind: str) -> str:
        m = re.match(r"<(\w+)>|'(\w+)'|\{(-?\w+)\}|(\d+)", self.src[self.i :])
        if not m:
            raise invalid("pcre", f"bad \\{kind} reference")
        self.i += len(m.group(0))
        name = next(g for g in m.groups() if g is not None)
        if name.startswith("-"):
            raise Unsupported("pcre construct not supported", "relative back reference")
        return f"(?:\\{name})" if name.isdigit() else f"(?P={name})"

    def _octal(self, first: str) -> str:
        m = re.match(r"[0-7]{0,2}", self.src[self.i :]) if first < "8" else None
        digits = m.group(0) if m else ""
        self.i += len(digits)
        return "\\x%02x" % (int(first + digits, 8) & 0xFF) if first < "8" else first

    def _digits(self, first: str) -> str:
        if first == "0":
            m = re.match(r"[0-7]{0,2}", self.src[self.i :])
            digits = m.group(0) if m else ""
            self.i += len(digits)
            return f"\\x{int('0' + digits, 8):02x}"
        m = re.match(r"\d{0,2}", self.src[self.i :])
        digits = first + (m.group(0) if m else "")
        self.i += len(digits) - 1
        return f"(?:\\{digits})"

    # ---------------------------------------------------------------- classes
    def _class(self) -> None:
        src, out = self.src, ["["]
        self.i += 1
        if self._peek("^"):
            out.append("^")
            self.i += 1
        if self._peek("]"):
            out.append(r"\]")
            self.i += 1
        while True:
            if self.i >= len(src):
                raise invalid("pcre", "unterminated character class")
            ch = src[self.i]
            if ch == "]":
                self.i += 1
                out.append("]")
                break
            out.append(self._class_item(ch))
        self._emit("".join(out))

    def _class_item(self, ch: str) -> str:
        src = self.src
        if ch == "[":
            m = re.match(r"\[:(\^?)(\w+):\]", src[self.i :])
            if m:
                self.i += len(m.group(0))
                if m.group(1) or m.group(2) not in _POSIX:
                    raise Unsupported("pcre construct not supported", "POSIX class")
                return _POSIX[m.group(2)]
            self.i += 1
            return r"\["
        if ch != "\\":
            self.i += 1
            return "\\" + ch if ch in "&~|" else ch
        if self.i + 1 >= len(src):
            raise invalid("pcre", "trailing backslash")
        c = src[self.i + 1]
        self.i += 2
        if c in "xo":
            return self._numeric_escape(c)
        if c in _CLASS_ESC:
            return _CLASS_ESC[c]
        if c == "e":
            return r"\x1b"
        if c == "c":
            return self._control()
        if c == "Q":
            end = src.find("\\E", self.i)
            end = len(src) if end < 0 else end
            text, self.i = src[self.i : end], end + 2
            return "".join("\\" + t if not t.isalnum() else t for t in text)
        if c == "E":
            return ""
        if c in "pPHVRNXC":
            raise Unsupported("pcre construct not supported", f"\\{c} in class")
        if c.isdigit():
            return self._octal(c)
        if c.isalpha():
            return "\\" + c if c in "dDsSwWnrtfab" else c
        return "\\" + c

    # ---------------------------------------------------------------- groups
    def _open(self) -> None:
        src = self.src
        rest = src[self.i : self.i + 12]
        m = re.match(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?\)", src[self.i :])
        if m and (m.group(1) or m.group(2)):
            self._inline_flags(m)
            return
        atomic = False
        if rest.startswith("(?<") and len(rest) > 3 and rest[3] not in "=!":
            self.out.append("(?P<")
            self.i += 3
        elif rest.startswith("(?'"):
            end = src.find("'", self.i + 3)
            if end < 0:
                raise invalid("pcre", "bad named group")
            self.out.append(f"(?P<{src[self.i + 3 : end]}>")
            self.i = end + 1
        elif rest.startswith("(?P>") or rest.startswith("(?R") or rest.startswith("(?|") or \
                re.match(r"\(\?[-+]?\d", rest) or rest.startswith("(?&") or rest.startswith("(*"):
            raise Unsupported("pcre construct not supported", "recursion or verbs")
        else:
            atomic = rest.startswith("(?>")
            self.out.append("(")
            self.i += 1
        parent = self.groups[-1]
        if parent.at_start:
            parent.at_start = False
            parent.heads[-1] = None
        self.groups.append(_Group(atomic=atomic))

    def _inline_flags(self, m: re.Match[str]) -> None:
        on, off = m.group(1), m.group(2) or ""
        if set(on + off) - set("imsx"):
            raise Unsupported("pcre construct not supported", f"inline flags {m.group(0)}")
        self.i += len(m.group(0))
        if not self.out:  # leading flags stay global, as Python requires
            self.out.append(m.group(0))
            return
        frame = self.groups[-1]
        if frame.scoped:
            self.out.append(")")
        frame.scoped = on + (f"-{off}" if off else "")
        self.out.append(f"(?{frame.scoped}:")

    def _close(self) -> None:
        if len(self.groups) == 1:
            raise invalid("pcre", "unbalanced parentheses")
        frame = self.groups.pop()
        if frame.scoped:
            self.out.append(")")
        self.i += 1
        self._emit(")", frame)
        if frame.unbounded and not frame.atomic:
            self.groups[-1].unbounded = True

    def _alternation(self) -> None:
        frame = self.groups[-1]
        self.i += 1
        if frame.scoped:
            self.out.append(f")|(?{frame.scoped}:")
        else:
            self.out.append("|")
        self.last_atom_group = None
        frame.heads.append(None)
        frame.at_start = True

    # ------------------------------------------------------------ quantifiers
    def _quantifier(self) -> None:
        src, ch = self.src, self.src[self.i]
        unbounded = ch in "*+"
        if ch == "{":
            m = _QUANT.match(src, self.i)
            if not m:
                self._emit(r"\{")
                self.i += 1
                return
            low, comma, high = int(m.group(1)), m.group(2), m.group(3)
            if low > MAX_REPEAT or (high and int(high) > MAX_REPEAT) or (high and int(high) < low):
                raise Unsupported("pcre construct not supported", "repeat count")
            unbounded = bool(comma) and not high
            text = m.group(0)
            if low > GATE_REPEAT or (high and int(high) > GATE_REPEAT):
                self.relaxed.append((m.start(), m.end(), f"{{{min(low, GATE_REPEAT)},}}"))
                self.wide += 1
            self.i = m.end()
        else:
            text = ch
            self.i += 1
        self.wide += unbounded
        suffix = ""
        if self.i < len(src) and src[self.i] in "?+":
            suffix = src[self.i]
            self.i += 1
        if self.ungreedy and suffix != "+":
            suffix = "" if suffix == "?" else "?"
        self._check_nesting(unbounded, suffix == "+")
        self.out.append(text + suffix)

    def _check_nesting(self, unbounded: bool, possessive: bool) -> None:
        group = self.last_atom_group
        risky = unbounded and not possessive and group is not None and not group.atomic
        if risky and group.unbounded:  # type: ignore[union-attr]
            raise Unsupported("pcre backtracking risk", "nested unbounded quantifiers")
        if risky and not _distinct_heads(group.heads):  # type: ignore[union-attr]
            raise Unsupported("pcre backtracking risk", "ambiguous alternation under repetition")
        if unbounded:
            self.groups[-1].unbounded = True
        self.last_atom_group = None


def translate(raw: str, flags: str) -> tuple[str, str | None]:
    """Python syntax for ``raw`` (a char per byte), and the PCRE for a hyperscan gate.

    The gate pattern is None when ``re`` is cheap anyway: a search costs
    O(n ** (wide quantifiers + 1 unless anchored)), so an anchored pattern with at most
    one unbounded quantifier, or one with none, needs no gate.
    """
    tr = _Translator(raw, ungreedy="G" in flags,
                     dollar_endonly="E" in flags and "m" not in flags, nocase="i" in flags)
    python = tr.run()
    if tr.wide <= (1 if tr.anchored(flags) else 0):
        return python, None
    gate = raw
    for start, end, text in reversed(tr.relaxed):
        gate = gate[:start] + text + gate[end:]
    return python, gate
