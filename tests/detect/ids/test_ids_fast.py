"""fast.log-style formats: real Suricata 7 fast.log, Snort 2 and Snort 3 alert_fast."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from honeyswitch.detect.ids import (
    LineTooLong,
    Snort2FastParser,
    Snort3FastParser,
    SuricataFastParser,
)

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=UTC).timestamp()


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def utc_parser(cls, **kw):
    return cls(tz=UTC, clock=lambda: NOW, **kw)


@pytest.mark.parametrize(
    ("name", "count"),
    [("suricata7_fast_pcap.log", 6), ("suricata7_fast_live_lo.log", 3),
     ("suricata7_fast_sqlmap_e2e.log", 64)],
)
def test_every_real_suricata_line_parses(shared_alerts, name, count):
    parser = SuricataFastParser()
    alerts = [parser.parse_line(line) for line in shared_alerts(name)]
    assert len(alerts) == count and all(a is not None for a in alerts)
    assert all(a.proto == "TCP" and a.src_port is not None for a in alerts)


def test_real_suricata_fields(shared_alerts):
    parser = utc_parser(SuricataFastParser)
    alerts = [parser.parse_line(line) for line in shared_alerts("suricata7_fast_pcap.log")]
    nmap = alerts[0]
    assert nmap.sensor == "suricata-fast"
    assert (nmap.gid, nmap.sid, nmap.rev) == (1, 2009358, 6)
    assert nmap.msg == "ET SCAN Nmap Scripting Engine User-Agent Detected (Nmap Scripting Engine)"
    assert nmap.classification == "Web Application Attack" and nmap.priority == 1
    assert (nmap.src_ip, nmap.src_port, nmap.dest_ip, nmap.dest_port) == (
        "203.0.113.52", 50002, "192.168.100.10", 80)
    assert nmap.timestamp == at(2024, 11, 25, 16, 0, 2, 6000)
    assert nmap.client is None and nmap.direction is None  # fast.log cannot tell
    null_class = alerts[3]
    assert null_class.sid == 9000001 and null_class.classification is None
    assert null_class.priority == 3
    # the file is not in time order: several worker threads write it
    assert alerts[0].timestamp > alerts[1].timestamp
    sqlmap = Counter(a.sid for a in map(parser.parse_line,
                                        shared_alerts("suricata7_fast_sqlmap_e2e.log")))
    assert sqlmap[2034635] == 52 and sqlmap[2006446] == 1


def test_suricata_extra_variants(fixtures_dir):
    parser = utc_parser(SuricataFastParser)
    lines = (fixtures_dir / "suricata_fast_extra.log").read_text().splitlines()
    drop, wdrop, v6, icmp, raw, brackets, odd = map(parser.parse_line, lines)
    assert drop.action == "Drop" and drop.sid == 9000010 and drop.priority == 1
    assert wdrop.action == "wDrop" and wdrop.classification is None
    assert (v6.src_ip, v6.src_port, v6.dest_ip, v6.dest_port) == (
        "2001:db8::1", 51000, "2001:db8::80", 80)
    assert icmp.proto == "ICMP" and (icmp.src_port, icmp.dest_port) == (8, 0)
    assert raw.sid == 2200003 and raw.src_ip is None and raw.proto is None
    assert raw.msg == "SURICATA IPv4 truncated packet" and raw.priority == 3
    assert brackets.msg == "LOCAL msg with [**] inside" and brackets.src_port == 40116
    assert odd.proto == "PROTO:253"


def test_snort2_fast_fixture(fixtures_dir):
    parser = utc_parser(Snort2FastParser)
    lines = (fixtures_dir / "snort2_alert_fast.txt").read_text().splitlines()
    alerts = [parser.parse_line(line) for line in lines]
    root, nmap, drop, noclass, icmp, v6, year, preproc = alerts
    assert root.sensor == "snort2-fast"
    assert (root.gid, root.sid, root.rev) == (1, 498, 6)
    assert root.msg == "ATTACK-RESPONSES id check returned root"
    assert root.timestamp == at(2026, 4, 24, 15, 50, 29, 236253)  # year from the clock
    assert (root.src_ip, root.src_port) == ("192.0.2.80", 80)
    assert nmap.classification == "Attempted Information Leak" and nmap.priority == 3
    assert drop.action == "Drop" and drop.priority == 1
    assert noclass.classification is None and noclass.priority == 3
    assert icmp.proto == "ICMP" and icmp.src_ip == "172.17.0.1" and icmp.src_port is None
    assert icmp.dest_ip == "172.17.0.2" and icmp.dest_port is None and icmp.priority == 0
    assert (v6.src_ip, v6.src_port, v6.dest_ip, v6.dest_port) == (
        "2001:db8::bad:1", 51000, "2001:db8::80", 443)
    assert year.timestamp == at(2026, 10, 20, 20, 14, 25, 3) and year.proto == "UDP"
    assert preproc.gid == 119 and preproc.msg == "(http_inspect) LONG HEADER"


def test_snort3_fast_fixture(fixtures_dir):
    parser = utc_parser(Snort3FastParser)
    lines = (fixtures_dir / "snort3_alert_fast.txt").read_text().splitlines()
    email, inline, nomsg, drop, icmp, v6 = map(parser.parse_line, lines)
    assert email.msg == "Custom email" and email.priority == 0 and email.classification is None
    assert email.timestamp == at(2026, 1, 1, 2, 0, 0, 4)  # January is in the past
    assert (inline.src_ip, inline.src_port, inline.dest_port) == ("1.1.1.1", 8080, 47683)
    assert nomsg.msg == "no msg in rule" and nomsg.sid == 3
    assert drop.action == "would_drop" and drop.classification == "Web Application Attack"
    assert drop.priority == 1 and drop.sid == 1000000
    assert icmp.proto == "ICMP4" and icmp.src_port is None and icmp.gid == 116
    assert (v6.src_ip, v6.src_port, v6.dest_ip, v6.dest_port) == (
        "2001:db8::2", 50290, "2001:db8::3", 8080)


def test_snort3_year_first():
    parser = utc_parser(Snort3FastParser, year_first=True)
    line = '26/07/16-09:23:39.153899 [**] [1:1:0] "x" [**] [Priority: 1] {TCP} 10.0.0.1:1 -> 10.0.0.2:2'
    assert parser.parse_line(line).timestamp == at(2026, 7, 16, 9, 23, 39, 153899)


def test_local_time_is_the_default(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        line = "07/16/2026-09:00:00.000000  [**] [1:1:1] x [**] [Priority: 1] {TCP} 10.0.0.1:1 -> 10.0.0.2:2"
        assert SuricataFastParser().parse_line(line).timestamp == at(2026, 7, 16, 13, 0, 0)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("cls", [SuricataFastParser, Snort2FastParser, Snort3FastParser])
@pytest.mark.parametrize(
    "line",
    [
        "garbage",
        "11/25/2024-16:00:02.006000  [**] [1:2:3] no end",
        "11/25/2024-16:00:02.006000  [**] [1:2] msg [**] [Priority: 1] {TCP} 1.2.3.4:1 -> 1.2.3.5:2",
        "13/45/2024-16:00:02.006000  [**] [1:2:3] m [**] [Priority: 1] {TCP} 1.2.3.4:1 -> 1.2.3.5:2",
        "11/25/2024-16:00:02.006000  [**] [1:2:3] m [**] [Priority: 1] {TCP} 1.2.3.4:1 -> 1.2.3.500:2",
        "11/25/2024-16:00:02.006000  [**] [1:2:3] m [**] [Priority: 1] {TCP} 1.2.3.4:1 -> 1.2.3.5:99999",
        "11/25/2024-16:00:02.006000  [**] [1:2:3] m [**] [Priority: x] {TCP} 1.2.3.4:1 -> 1.2.3.5:2",
        "11/25/2024-16:00:02.006000  [**] [1:99999999999:3] m [**] {TCP} 1.2.3.4:1 -> 1.2.3.5:2",
    ],
)
def test_malformed_fast_lines(cls, line):
    with pytest.raises(ValueError):
        cls().parse_line(line)


def test_blank_line_is_not_an_alert():
    assert SuricataFastParser().parse_line("   \n") is None


def test_over_long_fast_line():
    line = "11/25/2024-16:00:02.006000  [**] [1:2:3] " + "A" * 70_000
    with pytest.raises(LineTooLong):
        SuricataFastParser().parse_line(line)


def test_pathological_brackets_are_linear():
    import time

    line = "11/25/2024-16:00:02.006000  [**] [1:2:3] " + " [**] [Classification: " * 2500
    start = time.perf_counter()
    with pytest.raises(ValueError):
        SuricataFastParser().parse_line(line)
    assert time.perf_counter() - start < 0.5
