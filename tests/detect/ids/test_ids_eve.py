"""Suricata EVE JSON alerts, checked on real Suricata 7.0.10 output."""
from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from honeyswitch.detect.ids import LineTooLong, SuricataEveParser

PCAP = "suricata7_eve_alerts_pcap.json"
SQLMAP = "suricata7_eve_alerts_sqlmap_e2e.json"


@pytest.fixture
def parser() -> SuricataEveParser:
    return SuricataEveParser()


def parse_all(parser: SuricataEveParser, lines: list[str]):
    return [parser.parse_line(line) for line in lines]


def test_every_real_pcap_line_is_an_alert(parser, shared_alerts):
    alerts = parse_all(parser, shared_alerts(PCAP))
    assert len(alerts) == 6 and all(a is not None for a in alerts)
    assert Counter(a.sid for a in alerts) == {9000001: 3, 2100498: 1, 2008538: 1, 2009358: 1}
    assert Counter(a.direction for a in alerts) == {"to_client": 4, "to_server": 2}


def test_every_real_sqlmap_line_is_an_alert(parser, shared_alerts):
    alerts = parse_all(parser, shared_alerts(SQLMAP))
    assert len(alerts) == 64 and all(a is not None for a in alerts)
    sids = Counter(a.sid for a in alerts)
    assert sids[2034635] == 52 and sids[2008538] == 2 and sids[2017808] == 3
    assert sids[2006446] == 1 and len(sids) == 10
    assert all(a.sensor == "suricata-eve" and a.proto == "TCP" for a in alerts)
    assert all(a.client is not None and a.client[1] != 18080 for a in alerts)


def test_backwards_alert_has_client_to_server_view(parser, shared_alerts):
    first = parser.parse_line(shared_alerts(PCAP)[0])
    assert first.sid == 2100498 and first.gid == 1 and first.rev == 7
    assert first.msg == "GPL ATTACK_RESPONSE id check returned root"
    assert first.classification == "Potentially Bad Traffic"
    assert first.priority == 2 and first.severity is None
    assert (first.src_ip, first.src_port) == ("192.168.100.10", 80)  # the server's reply
    assert (first.dest_ip, first.dest_port) == ("203.0.113.50", 41618)
    assert first.direction == "to_client"
    assert first.client == ("203.0.113.50", 41618)
    assert first.server == ("192.168.100.10", 80)
    assert first.community_id == "1:UH7rhrIrktGi4daOxCPEIpalXtM="
    assert first.action == "allowed"
    assert first.timestamp == datetime(2024, 11, 25, 16, 0, 0, 8000, UTC).timestamp()
    assert first.raw.startswith('{"timestamp":"2024-11-25T16:00:00.008000+0000"')
    assert len(first.raw) <= 512


def test_no_classtype_and_et_severity(parser, shared_alerts):
    lines = shared_alerts(PCAP)
    local = parser.parse_line(lines[2])
    assert local.sid == 9000001 and local.classification is None and local.priority == 3
    union = next(a for a in parse_all(parser, shared_alerts(SQLMAP)) if a.sid == 2006446)
    assert union.priority == 1 and union.severity == "Major"
    assert union.classification == "Web Application Attack"
    assert union.client == ("127.0.0.1", 51230) and union.server == ("127.0.0.1", 18080)
    assert union.community_id == "1:r4wO6rl6NHLJ7l43MJoB+uiPO1M="


def _event(**changes):
    base = {
        "timestamp": "2026-11-25T16:29:18.395060+0100", "event_type": "alert",
        "src_ip": "2001:0db8:0000::0001", "src_port": 443, "dest_ip": "::ffff:198.51.100.7",
        "dest_port": 50123, "proto": "TCP", "direction": "to_client",
        "alert": {"gid": 1, "signature_id": 5, "rev": 2, "signature": "x", "severity": 2},
    }
    base.update(changes)
    return json.dumps(base)


def test_ipv6_normalised_and_direction_without_flow_object(parser):
    alert = parser.parse_line(_event())
    assert alert.src_ip == "2001:db8::1" and alert.dest_ip == "198.51.100.7"
    assert alert.client == ("198.51.100.7", 50123) and alert.server == ("2001:db8::1", 443)
    assert alert.timestamp == datetime(2026, 11, 25, 15, 29, 18, 395060, UTC).timestamp()


def test_alert_flow_object_is_read_too(parser):
    flow = {"src_ip": "10.0.0.1", "src_port": 1, "dest_ip": "10.0.0.2", "dest_port": 2}
    alert = parser.parse_line(_event(alert={"signature_id": 1, "flow": flow}, direction=None))
    assert alert.client == ("10.0.0.1", 1) and alert.server == ("10.0.0.2", 2)


def test_suricata6_flow_without_addresses_falls_back_to_direction(parser):
    alert = parser.parse_line(_event(flow={"pkts_toserver": 6, "start": "x"}, direction="to_server"))
    assert alert.client == ("2001:db8::1", 443)


def test_unknown_direction_gives_no_flow_view(parser):
    alert = parser.parse_line(_event(direction="sideways"))
    assert alert.direction is None and alert.client is None


@pytest.mark.parametrize("event_type", ["flow", "http", "anomaly", "stats", "dns"])
def test_other_event_types_are_not_alerts(parser, event_type):
    assert parser.parse_line(_event(event_type=event_type, alert=None)) is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "not json",
        "[1, 2]",
        '{"event_type": 5}',
        '{"timestamp": "x"}',
        '{"event_type": "alert"}',
        '{"event_type": "alert", "alert": []}',
        _event(timestamp="yesterday"),
        _event(src_ip="999.1.1.1"),
        _event(src_port=70000),
        _event(src_port=True),
        _event(alert={"signature_id": -1}),
        _event(alert={"signature_id": 1.5}),
        _event(alert={"signature": 7}),
        _event(direction=["to_server"]),
        "[" * 100_000 + "]" * 100_000,
        '{"event_type": "alert", "x": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
)
def test_malformed_lines_raise_value_error(parser, line):
    with pytest.raises(ValueError):
        parser.parse_line(line)


def test_over_long_line_is_its_own_error():
    parser = SuricataEveParser(max_line=1000)
    with pytest.raises(LineTooLong):
        parser.parse_line(_event(pad="x" * 2000))


def test_lone_surrogates_and_odd_unicode_are_made_safe(parser):
    line = _event(alert={"signature_id": 1, "signature": "\ud800 evil \u202e\x00 msg",
                         "category": "\udfff"})
    alert = parser.parse_line(line)
    alert.msg.encode("utf-8")
    alert.classification.encode("utf-8")
    assert "evil" in alert.msg
