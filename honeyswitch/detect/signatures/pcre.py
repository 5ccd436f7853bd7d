"""PCRE (as written in Snort/Suricata rules) to Python ``re``.

``pcre:"/pattern/flags"`` is split into the pattern and its flags; the pattern is
translated token by token into an equivalent Python bytes regex (``(?<name>``, ``\\x{hh}``,
``\\Q..\\E``, ``\\h``, ``\\R``, POSIX classes, mid-pattern ``(?i)``, ``G`` ungreedy ...).
Constructs Python cannot express (recursion, ``\\K``, ``\\p{..}``, relative backrefs)
make the rule :class:`Unsupported`.

Python's ``re`` backtracks and cannot be interrupted, so: shapes that invite
catastrophic backtracking are refused at load time (:mod:`.pcre_translate`), each pcre
carries a hyperscan pre-check (:mod:`.gate`) so failing searches never reach ``re``, and
callers bound the bytes a pcre inspects.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from .errors import Unsupported, invalid
from .gate import PcreGate
from .pcre_translate import translate

MAX_PATTERN = 4096

# Suricata's buffer-selecting pcre flags, mapped to our buffer names.
BUFFER_FLAGS = {"U": "http.uri", "I": "http.uri.raw", "P": "http.request_body",
                "H": "http.header", "D": "http.header.raw", "M": "http.method",
                "C": "http.cookie", "K": "http.cookie", "V": "http.user_agent",
                "W": "http.host", "Z": "http.host.raw"}
RESPONSE_FLAGS = frozenset("QSY")
_FLAGS = frozenset("ismxAEGRBO") | frozenset(BUFFER_FLAGS) | RESPONSE_FLAGS


@dataclass(frozen=True, slots=True)
class PcreSpec:
    regex: re.Pattern[bytes]
    negated: bool
    relative: bool
    anchored: bool  # the A flag: match at the start position only
    buffer: str | None  # from a buffer flag (U, H, ...), else None (current buffer)
    source: str
    gate: PcreGate  # hyperscan pre-check against catastrophic backtracking


def parse_pcre(text: str | None) -> PcreSpec:
    """Parse a ``pcre`` option value into a compiled :class:`PcreSpec`."""
    text = (text or "").strip()
    negated = text.startswith("!")
    if negated:
        text = text[1:].strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise invalid("pcre", "not a quoted /pattern/flags")
    body = text[1:-1]
    last = body.rfind("/")
    if not body.startswith("/") or last <= 0:
        raise invalid("pcre", "missing /delimiters/")
    pattern, flags = body[1:last], body[last + 1 :].strip()
    if len(pattern) > MAX_PATTERN:
        raise Unsupported("pcre too long")
    bad = sorted(set(flags) - _FLAGS)
    if bad:
        raise invalid("pcre", f"unknown flag {''.join(bad)!r}")
    if set(flags) & RESPONSE_FLAGS:
        raise Unsupported("http response inspection", f"pcre flag {flags}")
    buffers = {BUFFER_FLAGS[f] for f in flags if f in BUFFER_FLAGS}
    if len(buffers) > 1:
        raise invalid("pcre", "more than one buffer flag")
    regex, gate_source = _compile(pattern, flags)
    gate = PcreGate(gate_source, flags)  # None source: no gate needed
    return PcreSpec(regex, negated, "R" in flags, "A" in flags,
                    buffers.pop() if buffers else None, body, gate)


def compile_pcre(pattern: str, flags: str) -> re.Pattern[bytes]:
    """Translate and compile; raises Unsupported when Python cannot express it."""
    return _compile(pattern, flags)[0]


def _compile(pattern: str, flags: str) -> tuple[re.Pattern[bytes], bytes | None]:
    raw = pattern.encode("utf-8").decode("latin-1")  # one char per byte, as PCRE sees it
    translated, gate_source = translate(raw, flags)
    py_flags = 0
    for letter, value in (("i", re.IGNORECASE), ("s", re.DOTALL), ("m", re.MULTILINE),
                          ("x", re.VERBOSE)):
        if letter in flags:
            py_flags |= value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            regex = re.compile(translated.encode("latin-1"), py_flags)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise Unsupported("pcre does not compile in Python re", str(exc)[:80]) from None
    return regex, None if gate_source is None else gate_source.encode("latin-1")
