"""Signature rules on the TLS handshake: tls.sni, ja3.hash, ja3.string, ja4.hash and
tls.version, parsed from Suricata syntax, matched once per session, and switching a
session before main has seen a byte of it."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tlshelp import client_ctx, tls_table

from honeyswitch.detect.base import FlowInfo
from honeyswitch.detect.signatures import SignatureDetector, parse_rules
from honeyswitch.testing import servers
from honeyswitch.testing.clienthello import client_hello, ext_alpn, ext_sni, ext_versions
from honeyswitch.testing.harness import address, make_config, running
from honeyswitch.tls.facts import Handshake
from honeyswitch.tls.hello import read_client_hello

HELLO = read_client_hello(client_hello([0x1301, 0xC02B], [ext_sni(b"Evil.Example.test"), ext_alpn([b"http/1.1"]),
                                                          ext_versions([0x0304, 0x0303])]))
INFO = Handshake.of(HELLO, "TLSv1.3", "TLS_AES_128_GCM_SHA256", "http/1.1")
FLOW = FlowInfo("web", "s1", "198.51.100.7", 50000, "203.0.113.10", 8443)


def sids(rules: str, info: Any = INFO, flow: FlowInfo = FLOW) -> list[int]:
    ruleset = parse_rules(rules)
    assert not ruleset.skipped, ruleset.skipped
    inspector = SignatureDetector(ruleset).new_stream(flow)
    return sorted(a.details["sid"] for a in inspector.handshake(info))


@pytest.mark.parametrize("options, hit", [
    ('tls.sni; content:"evil.example.test"; nocase; endswith;', True),
    ('tls.sni; content:"evil.example.test";', False),  # case-sensitive without nocase
    ('tls_sni; content:".test"; endswith;', True),
    (f'ja3.hash; content:"{INFO.ja3_hash}";', True),
    ('ja3.hash; content:"00000000000000000000000000000000";', False),
    ('ja3.string; content:"771,4865-49195,"; startswith;', True),
    (f'ja4.hash; content:"{INFO.ja4}";', True),
    ('ja4.hash; content:"t13d"; startswith; ja3.hash; content:!"ffff";', True),
    ("tls.version:1.3;", True),
    ("tls.version:1.2;", False),
    ('tls.version:0x0304; tls.sni; pcre:"/^evil\\./i";', True),
])
def test_keywords(options: str, hit: bool) -> None:
    rule = f'alert tls any any -> any any (msg:"t"; flow:established,to_server; {options} sid:1;)'
    assert sids(rule) == ([1] if hit else [])


def test_no_sni_no_tls_sni_match_and_ports_apply() -> None:
    bare = read_client_hello(client_hello([0x1301], [ext_versions([0x0304])]))
    info = Handshake.of(bare, "TLSv1.3", None, None)
    assert sids('alert tls any any -> any any (msg:"x"; tls.sni; content:!"x"; sid:1;)', info) == []
    rules = ('alert tls any any -> any 443 (msg:"443"; tls.version:1.3; sid:1;)\n'
             'alert tls any any -> any 25 (msg:"25"; tls.version:1.3; sid:2;)\n'
             'alert tcp 10.0.0.0/8 any -> any any (msg:"src"; tls.version:1.3; sid:3;)\n'
             'alert tls 198.51.100.0/24 any -> any 8443 (msg:"both"; tls.version:1.3; sid:4;)')
    assert sids(rules) == [1, 4]  # 443: TLS's well-known port, as $HTTP_PORTS works for HTTP


@pytest.mark.parametrize("rule, reason", [
    ('alert http any any -> any any (msg:"x"; tls.sni; content:"a"; sid:1;)', "tls buffers on a non-tls rule"),
    ('alert tls any any -> any any (msg:"x"; tls.sni; content:"a"; pkt_data; content:"b"; sid:1;)',
     "tls buffers with stream or http content"),
    ('alert tls any any -> any any (msg:"x"; flow:to_client; ja3.hash; content:"a"; sid:1;)', "tls buffers on to_client"),
    ('alert tls any any -> any any (msg:"x"; tls.certs; content:"a"; sid:1;)', "unsupported buffer: tls.certs"),
    ('alert tls any any -> any any (msg:"x"; ja3s.hash; content:"a"; sid:1;)', "unsupported buffer: ja3s.hash"),
])
def test_what_is_skipped_and_why(rule: str, reason: str) -> None:
    skipped = parse_rules(rule).skipped
    assert len(skipped) == 1 and skipped[0].reason.startswith(reason), skipped


async def test_a_ja4_rule_switches_the_session_before_main_sees_a_byte(tmp_path: Path, make_server, pki) -> None:
    main = await make_server(servers.echo(b"main:"))
    honeypot = await make_server(servers.echo(b"honeypot:"))
    # Python's own ClientHello, as it will reach honeyswitch: its JA4 prefix is stable.
    rules = tmp_path / "tls.rules"
    rules.write_text('alert tls any any -> any any (msg:"python ssl client"; ja4.hash; content:"t13d"; startswith; '
                     'tls.sni; content:"www.example.test"; metadata: honeyswitch_score 500; sid:9100001;)\n')
    cfg = make_config(tmp_path, [{"name": "web", "main": main.url, "honeypot": honeypot.url, "rules": [str(rules)],
                                  "tls": tls_table(pki["web"])}])
    async with running(cfg) as (app, events):
        host, port = address(app)
        reader, writer = await asyncio.open_connection(host, port, ssl=client_ctx(pki), server_hostname="www.example.test")
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        reply = await asyncio.wait_for(reader.readexactly(len(b"honeypot:GET / HTTP/1.1\r\n\r\n")), 5)
        writer.close()
        alert = await events.wait_for("alert")
        switch = await events.wait_for("switch")
    assert reply.startswith(b"honeypot:")
    assert alert["sid"] == 9100001 and switch["by"] == "detector:signature"
    assert all(not c.received for c in main.conns)  # main never got a byte
