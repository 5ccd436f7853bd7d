"""Hostile input: whatever a line holds, parse_line returns an alert or None, or raises
ValueError, and every string it returns encodes as UTF-8."""
from __future__ import annotations

import json
from datetime import UTC

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honeyswitch.detect.ids import PARSERS, IdsAlert, make_parser

FAST_LINE = ("11/25/2024-16:00:02.006000  [**] [1:2009358:6] ET SCAN Nmap [**] "
             "[Classification: Web Application Attack] [Priority: 1] {TCP} "
             "203.0.113.52:50002 -> 192.168.100.10:80")
SNORT3_JSON = ('{ "timestamp" : "07/16-09:23:39.153899", "proto" : "TCP", "dir" : "C2S", '
               '"src_ap" : "192.168.1.2:50284", "dst_ap" : "192.168.2.3:80", "rule" : "1:1000000:0" }')
PARSER_NAMES = sorted(PARSERS)


PARSERS_UNDER_TEST = [make_parser(name, tz=UTC, max_line=4096) for name in PARSER_NAMES]


def check(line: str) -> None:
    for parser in PARSERS_UNDER_TEST:
        try:
            result = parser.parse_line(line)
        except ValueError:
            continue
        assert result is None or isinstance(result, IdsAlert)
        if result is not None:
            for value in (result.msg, result.classification, result.raw, result.proto):
                if value is not None:
                    value.encode("utf-8")


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(line):
    check(line)


def mutate(base: str):
    """Lines near a valid one: a slice replaced by random text, so parsing gets deep."""
    return st.tuples(st.integers(0, len(base)), st.integers(0, 40), st.text(max_size=20)).map(
        lambda t: base[: t[0]] + t[2] + base[t[0] + t[1]:])


@SETTINGS
@given(st.one_of(mutate(FAST_LINE), mutate(SNORT3_JSON)))
def test_mutated_valid_lines(line):
    check(line)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=True), st.text(max_size=30))
json_values = st.one_of(json_scalars, st.lists(json_scalars, max_size=3),
                        st.dictionaries(st.text(max_size=10), json_scalars, max_size=4))
EVE_KEYS = ["src_ip", "src_port", "dest_ip", "dest_port", "proto",
            "direction", "community_id", "flow"]
ALERT_KEYS = ["gid", "signature_id", "rev", "signature", "category", "severity", "action",
              "metadata", "flow"]


def eve_like():
    alert = st.fixed_dictionaries({}, optional={k: json_values for k in ALERT_KEYS})
    event = st.fixed_dictionaries(
        {"event_type": st.just("alert"), "alert": alert,
         "timestamp": st.just("2024-11-25T16:00:00.008000+0000") | json_values},
        optional={k: json_values for k in EVE_KEYS})
    return event.map(json.dumps)


@SETTINGS
@given(eve_like())
def test_eve_shaped_objects_with_random_values(line):
    check(line)


@pytest.mark.parametrize("name", PARSER_NAMES)
def test_length_bound(name):
    with pytest.raises(ValueError):
        make_parser(name, max_line=4096).parse_line(FAST_LINE + "x" * 5000)
