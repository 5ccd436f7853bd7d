"""Hostile input: rule text and traffic never raise anything but ValueError / a skip."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyswitch.detect.base import FlowInfo
from honeyswitch.detect.signatures import (
    RuleError,
    SignatureDetector,
    default_rules_path,
    load_ruleset,
    parse_rule,
    parse_rules,
)
from honeyswitch.detect.signatures.http import HttpRequestParser
from honeyswitch.detect.signatures.pcre import compile_pcre

# HONEYSWITCH_FUZZ_EXAMPLES=5000 for a longer run
FUZZ = settings(max_examples=int(os.environ.get("HONEYSWITCH_FUZZ_EXAMPLES", "300")),
                deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYWORDS = ["content", "nocase", "offset", "depth", "distance", "within", "pcre", "flow",
            "flowbits", "dsize", "threshold", "detection_filter", "isdataat", "byte_test",
            "byte_jump", "bsize", "urilen", "http.uri", "http_uri", "http.header",
            "http.user_agent", "file.data", "fast_pattern", "startswith", "endswith", "msg",
            "sid", "rev", "classtype", "priority", "metadata", "reference", "flags",
            "tls.sni", "xbits", "noalert", "uricontent", "http.request_body", "pkt_data"]
VALUES = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.sampled_from(['"abc"', '!"x|41|"', '"|zz|"', '"/a(b/i"', '"/x/R"', "5", "-3", "0",
                     "to_server,established", "set,a", "isset,a|b", "<5", "3<>1", "1<>9",
                     "type limit, track by_src, count 1, seconds 60", "4,>,1,0,relative",
                     "1,0,relative,multiplier 2", "attempted-admin", "honeyswitch_score 5",
                     "!1,relative", '"\\"', "99999999999999999999", '"/(a+)+$/"']),
)
HEADERS = st.sampled_from([
    "alert tcp any any -> any any", "alert http $EXTERNAL_NET any -> $HOME_NET $HTTP_PORTS",
    "drop tcp [1.2.3.0/24,!1.2.3.4] [1:1024] <> any !80", "pass ip any any -> any any",
    "alert udp any any -> any any", "alert tcp any any -> any [", "alert", "",
    "alert tcp $X any -> any $NOPE", "reject smtp any 25 -> any any",
])


@st.composite
def rule_texts(draw: st.DrawFn) -> str:
    options = draw(st.lists(st.tuples(st.sampled_from(KEYWORDS), VALUES), max_size=12))
    body = "; ".join(k if v is None else f"{k}:{v}" for k, v in options)
    sid = draw(st.sampled_from(["", "sid:1;", "sid:x;"]))
    return f"{draw(HEADERS)} ({body}; {sid})"


def check_rule(text: str) -> None:
    try:
        parse_rule(text)
    except RuleError:
        pass  # a skip with a reason: fine (RuleError is a ValueError)


@FUZZ
@given(rule_texts())
def test_structured_rule_text(text: str) -> None:
    check_rule(text)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_rule_text(text: str) -> None:
    check_rule(text)
    rs = parse_rules(text)  # the file loader never raises for a bad line
    assert len(rs.rules) + len(rs.skipped) <= text.count("\n") + 1


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab()[]{}*+?|\\^$.:<>=!-PRkgxQE0129ims#'")),
               max_size=40), st.sampled_from(["", "i", "smx", "G", "E"]))
def test_pcre_translation(pattern: str, flags: str) -> None:
    try:
        compile_pcre(pattern, flags)
    except ValueError:
        pass


DET = SignatureDetector(load_ruleset([default_rules_path()]), protocols={"web": "http"},
                        clock=lambda: 0.0)


@FUZZ
@given(st.lists(st.tuples(st.binary(max_size=300), st.booleans()), max_size=12),
       st.sampled_from([("web", 80), ("cache", 6379), ("x", 21), ("y", 9999)]))
def test_arbitrary_traffic(chunks: list[tuple[bytes, bool]], service: tuple[str, int]) -> None:
    ins = DET.new_stream(FlowInfo(service[0], "f", "203.0.113.1", 1234, "192.0.2.1", service[1]))
    for data, to_server in chunks:
        for alert in ins.feed(data, to_server):
            assert alert.score >= 0


HTTPISH = st.lists(st.sampled_from([
    b"GET ", b"POST ", b"/", b"%41", b"%", b" HTTP/1.1", b"\r\n", b"\n", b"Host: a\r\n",
    b"Content-Length: 5\r\n", b"Content-Length: x\r\n", b"Transfer-Encoding: chunked\r\n",
    b"5\r\n", b"zz\r\n", b"0\r\n", b"abcde", b" folded\r\n", b":", b"\x00", b"\xff",
]), max_size=40)


@FUZZ
@given(HTTPISH, st.integers(1, 16))
def test_http_parser_fuzz(parts: list[bytes], step: int) -> None:
    data = b"".join(parts)
    parser = HttpRequestParser(max_line=64, max_headers=128, max_body=32)
    for i in range(0, len(data), step):
        for _level, req in parser.feed(data[i:i + step]):
            for name in ("http.uri", "http.header", "http.host", "http.request_body",
                         "http.header_names", "http.start", "http.cookie"):
                value = req.buffer(name)
                assert value is None or len(value) < 4096
