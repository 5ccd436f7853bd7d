"""PCRE translation to Python re, refusals, and bounded cost on hostile input."""
from __future__ import annotations

import time

import pytest

from honeyswitch.detect.signatures import Unsupported, hyperscan_available, parse_rules
from honeyswitch.detect.signatures.pcre import compile_pcre, parse_pcre


@pytest.mark.parametrize("pattern,flags,subject,expect", [
    (r"(?<year>\d{4})-\k<year>", "", b"2024-2024", True),
    (r"(?'n'ab)\k{n}", "", b"abab", True),
    (r"\x{41}\x4", "", b"A\x04", True),
    (r"\Qa.b\E", "", b"a.b", True),
    (r"\Qa.b\E", "", b"axb", False),
    (r"a\hb", "", b"a\tb", True),
    (r"a\Rb", "", b"a\r\nb", True),
    (r"[[:alpha:]]+[[:digit:]]", "", b"abc1", True),
    (r"[[:xdigit:]]{4}", "", b"beef", True),
    (r"x(?i)abc", "", b"xABC", True),
    (r"x(?i)abc|y", "", b"Y", True),
    (r"x(?i:abc)y", "", b"xABCy", True),
    (r"a{,3}", "", b"a{,3}", True),  # PCRE: not a quantifier
    (r"\/etc\/passwd", "", b"/etc/passwd", True),
    (r"\e\cA", "", b"\x1b\x01", True),
    (r"a\z", "", b"a", True),
    (r"a\Z", "", b"a\n", True),
    (r"a$", "E", b"a\n", False),
    (r"a.+?b", "G", b"axxbxxb", True),
    (r"[\x00-\x08]", "", b"\x05", True),
    (r"\101", "", b"A", True),
    (r"(?>a+)b", "", b"aab", True),
    (r"a++b", "", b"aab", True),
    (r"\w+\s\d", "i", b"ABC 1", True),
])
def test_translation(pattern: str, flags: str, subject: bytes, expect: bool) -> None:
    assert bool(compile_pcre(pattern, flags).search(subject)) is expect


@pytest.mark.parametrize("value,reason", [
    ('"/(a+)+$/"', "pcre backtracking risk"),
    ('"/(?:\\w+\\s?)*x/"', "pcre backtracking risk"),
    ('"/(a|a)*b/"', "pcre backtracking risk"),
    ('"/(ab|ac)+d/"', "pcre backtracking risk"),
    ('"/(?R)/"', "pcre construct not supported"),
    ('"/\\p{L}/"', "pcre construct not supported"),
    ('"/a\\Kb/"', "pcre construct not supported"),
    ('"/(?<=a+)b/"', "pcre does not compile in Python re"),
    ('"/x/Q"', "http response inspection"),
    ('"/x/q"', "invalid pcre"),
    ('"x"', "invalid pcre"),
    ('"/(x/"', "invalid pcre"),
])
def test_refused(value: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_pcre(value)
    assert info.value.reason == reason  # type: ignore[attr-defined]


def test_safe_repetitions_are_accepted() -> None:
    for value in ['"/(?:a|b)+c/"', '"/(-|\\s)*x/"', '"/(?>(a+))+b/"', '"/(\\d{1,3}\\.){3}/"',
                  '"/(?:ab)+/"', '"/(a+)+b/"'.replace("(a+)+", "(a+)++")]:
        parse_pcre(value)


def test_unsupported_is_a_value_error() -> None:
    assert issubclass(Unsupported, ValueError)


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not installed")
def test_hostile_subject_is_cheap_with_the_gate(sig1) -> None:
    # in Python re alone this is O(n^3): hours on 8 KiB of "x"
    rules = 'alert tcp any any -> any any (msg:"t"; pcre:"/.+?x.+?y/s"; sid:1;)'
    det = sig1.detector(rules)
    start = time.process_time()
    assert sig1.run(det, [b"x" * 8000, b"x" * 8000]) == []
    assert time.process_time() - start < 2.0
    assert len(sig1.run(det, [b"..x..y"])) == 1


def test_without_the_gate_re_sees_a_smaller_window(sig1) -> None:
    rules = 'alert tcp any any -> any any (msg:"t"; pcre:"/.+?x/s"; sid:1;)'
    det = sig1.detector(rules, pcre_gate=False)
    start = time.process_time()
    assert sig1.run(det, [b"ab" * 16000]) == []  # 9 s in re on the whole 32 KiB
    assert time.process_time() - start < 2.0


def test_pcre_skips_are_reported() -> None:
    rs = parse_rules('alert tcp any any -> any any (msg:"t"; pcre:"/(a+)+$/"; sid:1;)')
    assert rs.skipped[0].reason == "pcre backtracking risk" and rs.skipped[0].sid == 1


@pytest.mark.parametrize("value,needed", [
    ('"/^abc\\d+/"', False),      # anchored, one unbounded quantifier: linear in re
    ('"/abc\\d{1,3}/"', False),   # no unbounded quantifier
    ('"/^\\d+\\S+/R"', True),     # two overlapping ones
    ('"/a.*b/"', True),           # unanchored: every start position
    ('"/^a|b.*c/"', True),        # top-level alternation: not anchored
    ('"/^a.*b/m"', True),         # ^ after any newline
])
def test_gate_only_where_re_can_be_slow(value: str, needed: bool) -> None:
    assert parse_pcre(value).gate.needed is needed


def test_gate_relaxes_big_repeats() -> None:
    spec = parse_pcre('"/a\\{300}[{500}]x.*b{2,3}c{1000}/"')
    assert spec.gate._expr == rb"a\{300}[{500}]x.*b{2,3}c{64,}"
    assert spec.regex.pattern == rb"a\{300}[{500}]x.*b{2,3}c{1000}"
