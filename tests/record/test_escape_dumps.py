"""escape.dumps writes flat dicts itself: the same text as the json module, always."""
from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.record.escape import dumps, json_default


def reference(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=json_default)


scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text() | st.binary(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


@given(st.dictionaries(st.text(), values, max_size=12))
def test_dicts_match_the_json_module(obj: dict[str, object]) -> None:
    assert dumps(obj) == reference(obj)


@given(values)
def test_any_value_matches_the_json_module(obj: object) -> None:
    assert dumps(obj) == reference(obj)


def test_event_shapes() -> None:
    event = {"timestamp": "2026-11-25T19:09:23.123456+00:00", "event_type": "session_end", "session_id": "ab",
             "src_port": 40000, "duration": 0.165137, "score": 0.0, "switched": False, "transcript": None,
             "reason": "main: [Errno 111] Connexion refus\u00e9e\n\x1b[2J", "n": 10**30, "big": 1e300,
             "odd": math.inf, "services": ["web"], "details": {"sid": 1, "b": b"\x00\xff"}, 3: "int key"}
    assert dumps(event) == reference(event)
    assert "\n" not in dumps(event) and dumps(event).isascii()
