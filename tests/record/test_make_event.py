"""make_event: common fields, defaults, overrides, unknown types."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from honeyswitch.events import EVENT_TYPES, iso_timestamp, make_event

SESSION = {"session_id": "abc", "service": "web", "src_ip": "::ffff:198.51.100.7", "src_port": 5000,
           "dest_ip": "203.0.113.1", "dest_port": 80, "unrelated": 1}


def test_timestamp_is_iso_utc_with_microseconds() -> None:
    ev = make_event("daemon_start", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", ev["timestamp"])
    assert iso_timestamp(0.5) == "1970-01-01T00:00:00.500000+00:00"


def test_session_fields_from_a_mapping_and_mapped_ipv4_unmapped() -> None:
    ev = make_event("switch_done", SESSION, main_bytes_to_client=10, honeypot_bytes=12)
    assert ev["session_id"] == "abc" and ev["src_ip"] == "198.51.100.7" and ev["dest_port"] == 80
    assert "unrelated" not in ev


def test_session_fields_from_an_object() -> None:
    @dataclass
    class Flow:
        session_id: str = "f1"
        service: str = "ssh"
        src_ip: str = "2001:db8::1"
        src_port: int = 1
        dest_ip: str = "2001:db8::2"
        dest_port: int = 22

    ev = make_event("honeypot_dropped", Flow(), reason="slow")
    assert (ev["session_id"], ev["service"], ev["src_ip"]) == ("f1", "ssh", "2001:db8::1")


def test_missing_fields_are_null_and_common_fields_can_be_given() -> None:
    ev = make_event("blacklist_add", None, ip="192.0.2.1", src_ip="192.0.2.1", timestamp="T")
    assert ev["reason"] is None and ev["expires"] is None and ev["session_id"] is None
    assert ev["src_ip"] == "192.0.2.1" and ev["timestamp"] == "T"
    assert set(ev) >= set(EVENT_TYPES["blacklist_add"].fields)


def test_alert_keeps_detector_details() -> None:
    ev = make_event("alert", None, detector="signature", score=1, sid=2000001, rev=3)
    assert ev["sid"] == 2000001 and ev["rev"] == 3


def test_unknown_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown event type 'sesion_start'"):
        make_event("sesion_start")
