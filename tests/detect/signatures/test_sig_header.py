"""Rule headers inline: protocols, ports (real or well-known), addresses, direction."""
from __future__ import annotations

import pytest

from honeyswitch.detect.signatures import parse_rules


def R(header: str, options: str = 'content:"abc";', proto: str = "tcp") -> str:
    return f'alert {proto} {header} (msg:"t"; {options} sid:1; rev:1;)'


@pytest.mark.parametrize("header,port,protocols,to_server,expect", [
    ("any any -> any 21", 21, None, True, True),
    ("any any -> any 21", 2121, {"svc": "ftp"}, True, True),  # well-known port of the service
    ("any any -> any 21", 8080, None, True, False),
    ("any any -> any $HTTP_PORTS", 8081, {"svc": "http"}, True, True),
    ("any any -> any $HTTP_PORTS", 8081, None, True, False),
    ("any any -> any !80", 8081, None, True, True),
    ("any any -> any !80", 80, None, True, False),
    ("any any -> any [21,8000:8100]", 8050, None, True, True),
    ("any any -> any 1024:", 80, None, True, False),
    ("any any -> any [1:1000,!80]", 80, None, True, False),
    ("any 21 -> any any", 21, None, False, True),  # server -> client
    ("any 21 -> any any", 21, None, True, False),
    ("any any <> any 21", 21, None, False, True),  # bidirectional
    ("any any -> any 21", 21, None, False, False),
    ("any 40000 -> any any", 9999, None, True, True),  # client port (FlowInfo src_port)
    ("any 40001 -> any any", 9999, None, True, False),
    ("192.0.2.0/24 any -> any any", 9999, None, True, True),  # literal client address
    ("10.0.0.0/8 any -> any any", 9999, None, True, False),
    ("[10.0.0.0/8,192.0.2.10] any -> any any", 9999, None, True, True),
    ("!192.0.2.10 any -> any any", 9999, None, True, False),
    ("any any -> 198.51.100.1 any", 9999, None, True, True),  # literal server address
    ("$EXTERNAL_NET any -> $HOME_NET any", 9999, None, True, True),  # variables match
    ("!$HOME_NET any -> [$HOME_NET,$HTTP_SERVERS] any", 9999, None, True, True),
])
def test_header(sig, header: str, port: int, protocols, to_server: bool, expect: bool) -> None:
    flow = sig.flow(port=port)
    got = sig.sids(R(header), [(b"xabcx", to_server)], flow, protocols=protocols)
    assert bool(got) is expect


@pytest.mark.parametrize("proto,service_proto,expect", [
    ("tcp", None, True), ("ip", None, True), ("tcp-pkt", None, True),
    ("http", "http", True), ("http", "ftp", False), ("http", None, False),
    ("ftp", "ftp", True), ("smtp", "ftp", False), ("redis", "redis", True),
])
def test_application_protocol(sig, proto: str, service_proto, expect: bool) -> None:
    protocols = {"svc": service_proto} if service_proto else None
    rules = R("any any -> any any", proto=proto)
    assert bool(sig.sids(rules, [b"xabcx"], sig.flow(port=9999), protocols=protocols)) is expect


def test_protocol_guessed_from_port(sig) -> None:
    rules = R("any any -> any any", proto="ftp")
    assert sig.sids(rules, [b"abc"], sig.flow(port=21)) == [1]


def test_http_recognised_from_first_bytes(sig) -> None:
    rules = R("any any -> any any", 'http.uri; content:"/abc";', proto="http")
    assert sig.sids(rules, [b"GET /abc HTTP/1.1\r\n\r\n"], sig.flow(port=9999)) == [1]
    assert sig.sids(rules, [b"HELO /abc HTTP/1.1\r\n\r\n"], sig.flow(port=9999)) == []


@pytest.mark.parametrize("text,reason", [
    ('alert udp any any -> any any (msg:"x"; content:"a"; sid:1;)', "unsupported protocol: udp"),
    ('alert tcp any any -> any $NOPE_PORTS (msg:"x"; content:"a"; sid:1;)', "unknown port variable"),
    ('activate tcp any any -> any any (msg:"x"; content:"a"; sid:1;)', "unsupported action"),
    ('bogus tcp any any -> any any (msg:"x"; content:"a"; sid:1;)', "invalid rule syntax"),
    ('alert tcp any any -> any 99999 (msg:"x"; content:"a"; sid:1;)', "invalid port"),
    ('alert tcp 300.1.1.1 any -> any any (msg:"x"; content:"a"; sid:1;)', "invalid address"),
    ('alert tcp any any <- any any (msg:"x"; content:"a"; sid:1;)', "invalid header"),
])
def test_bad_headers_are_skipped(text: str, reason: str) -> None:
    rs = parse_rules(text)
    assert not rs.rules
    assert rs.skipped[0].reason == reason


def test_http_recognised_when_the_first_chunk_is_tiny(sig) -> None:
    rules = R("any any -> any any", 'http.uri; content:"/abc";', proto="http")
    chunks = [b"G", b"ET /a", b"bc HTTP/1.1\r\n\r\n"]
    assert sig.sids(rules, chunks, sig.flow(port=9999)) == [1]
