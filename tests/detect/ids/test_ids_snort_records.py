"""Snort 2 alert_csv, Snort 3 alert_json and alert_csv, from fixtures in the manuals' formats."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from honeyswitch.detect.ids import Snort2CsvParser, Snort3CsvParser, Snort3JsonParser, make_parser

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC).timestamp()


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def read(fixtures_dir, name):
    return (fixtures_dir / name).read_text().splitlines()


def test_snort2_csv_default_fields(fixtures_dir):
    parser = Snort2CsvParser(tz=UTC, clock=lambda: NOW)
    icmp, nmap, metron, quoted = map(parser.parse_line, read(fixtures_dir, "snort2_alert.csv"))
    assert icmp.sensor == "snort2-csv"
    assert (icmp.gid, icmp.sid, icmp.rev) == (1, 1000001, 1)
    assert icmp.msg == "__S_ICMP_cat9Ktest" and icmp.proto == "ICMP"
    assert (icmp.src_ip, icmp.src_port, icmp.dest_ip, icmp.dest_port) == (
        "172.17.0.1", None, "172.17.0.2", None)
    assert icmp.timestamp == at(2026, 9, 3, 15, 20, 34, 587699)
    assert icmp.classification is None and icmp.priority is None
    assert (nmap.src_ip, nmap.src_port, nmap.dest_port) == ("10.1.1.100", 48184, 1)
    assert metron.timestamp == at(2018, 2, 1, 15, 33, 7) and metron.msg == "'snort test alert'"
    assert quoted.msg == 'LOCAL msg, with a comma and a "quote"' and quoted.dest_port == 8080


def test_snort2_csv_configured_fields(fixtures_dir):
    parser = Snort2CsvParser("timestamp,sig_id,msg,proto,src,srcport,dst,dstport",
                             tz=UTC, clock=lambda: NOW)
    nmap, sqlmap = map(parser.parse_line, read(fixtures_dir, "snort2_alert_custom.csv"))
    assert nmap.sid == 628 and nmap.gid is None and nmap.msg == "SCAN nmap TCP"
    assert (sqlmap.src_ip, sqlmap.src_port, sqlmap.dest_ip, sqlmap.dest_port) == (
        "203.0.113.9", 40112, "192.0.2.80", 8080)
    # the default-format file does not fit this field list
    with pytest.raises(ValueError, match="expected 8 CSV fields"):
        parser.parse_line(read(fixtures_dir, "snort2_alert.csv")[1])


@pytest.mark.parametrize("fields", ["", "timestamp,bogus", ["msg", "nope"]])
def test_snort2_csv_bad_field_list(fields):
    with pytest.raises(ValueError):
        Snort2CsvParser(fields)


@pytest.mark.parametrize(
    "line",
    ['x,"unterminated', "a,b", "09/03-15:20:34.587699 ," + ",".join(["x"] * 26),
     "\x00" * 10, '09/03-1:2:3 ,1,2,3,"m",TCP,1.2.3.4,99999,1.2.3.5,1' + "," * 17],
)
def test_snort2_csv_malformed(line):
    with pytest.raises(ValueError):
        Snort2CsvParser().parse_line(line)


def test_snort3_json_fixture(fixtures_dir):
    parser = Snort3JsonParser(tz=UTC, clock=lambda: NOW)
    docs, demo, v6, mapped = map(parser.parse_line, read(fixtures_dir, "snort3_alert_json.txt"))
    assert docs.sensor == "snort3-json"
    assert (docs.gid, docs.sid, docs.rev) == (1, 1000000, 0) and docs.action == "would_drop"
    assert docs.timestamp == at(2026, 7, 16, 9, 23, 39, 153899)
    assert docs.direction == "to_server"
    assert docs.client == ("192.168.1.2", 50284) and docs.server == ("192.168.2.3", 80)
    assert docs.msg == "" and docs.priority is None
    # seconds beats the year guess: 2017, not 2026
    assert demo.timestamp == 1511787706 + 0.385863
    assert demo.msg == "pdu foo" and demo.classification is None and demo.priority == 0
    assert demo.direction == "to_client"
    assert (demo.src_ip, demo.src_port) == ("10.9.8.7", 8)
    assert demo.client == ("10.1.2.4", 48620) and demo.server == ("10.9.8.7", 8)
    assert (v6.src_ip, v6.src_port, v6.dest_ip, v6.dest_port) == (
        "2001:db8::2", 50290, "2001:db8::3", 8080)
    assert mapped.src_ip == "203.0.113.9" and mapped.msg == "LOCAL quoted msg"
    assert mapped.classification == "Web Application Attack" and mapped.priority == 1


def test_snort3_csv_fixture(fixtures_dir):
    parser = Snort3CsvParser(tz=UTC, clock=lambda: NOW)
    c2s, s2c = map(parser.parse_line, read(fixtures_dir, "snort3_alert_csv.txt"))
    assert (c2s.gid, c2s.sid, c2s.rev) == (1, 18761, 4) and c2s.proto == "UDP"
    assert c2s.client == s2c.client == ("10.0.2.101", 32769)
    assert s2c.src_ip == "10.0.1.101" and s2c.direction == "to_client"
    assert c2s.action == "allow" and c2s.timestamp == at(2026, 3, 18, 23, 3, 20, 626866)


def test_snort3_csv_configured_fields():
    parser = Snort3CsvParser("timestamp sid gid rev msg src_addr src_port dst_addr dst_port dir",
                             tz=UTC, clock=lambda: NOW)
    alert = parser.parse_line('07/16-09:23:39.1, 5, 1, 2, "a, b", 10.0.0.1, 1234, 10.0.0.2, 80, C2S')
    assert (alert.sid, alert.gid, alert.rev, alert.msg) == (5, 1, 2, "a, b")
    assert alert.client == ("10.0.0.1", 1234)


@pytest.mark.parametrize(
    "line",
    ["{", "[]", '{"rule": "1:2"}', '{"rule": 5}', '{"src_ap": "1.2.3.4"}',
     '{"src_ap": "1.2.3.4:http"}', '{"seconds": "soon"}', '{"timestamp": "never"}',
     '{"priority": -3}', '{"msg": ["x"]}', "[" * 50_000],
)
def test_snort3_json_malformed(line):
    with pytest.raises(ValueError):
        Snort3JsonParser().parse_line(line)


def test_make_parser_by_name():
    assert make_parser("snort2-csv", fields="default").name == "snort2-csv"
    assert make_parser("suricata-eve", sensor="gw1").name == "gw1"
    with pytest.raises(ValueError, match="unknown alert format"):
        make_parser("zeek-notice")
