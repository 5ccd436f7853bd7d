"""sqlmap and nmap over HTTPS: honeyswitch terminates the TLS, the default ruleset sees
the plaintext, and the tools are switched as over HTTP (test_e2e_attack_tools.py).

Main (real data) and honeypot (fake data) are the test web application, plaintext
behind PROXY v2; the client side is HTTPS with a certificate made for the test.
nmap's ssl-enum-ciphers makes dozens of handshakes with ciphers and versions we refuse:
each is counted as a TLS failure, and none disturbs the sessions that did get through.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_web import check_main_after_switches, service
from test_e2e_attack_tools import ATTACKER, FAKE_SECRET, REAL_SECRET, _run

from honeyswitch.testing import require
from honeyswitch.testing.certs import CertAuthority
from honeyswitch.testing.harness import address, make_config, running

pytestmark = [pytest.mark.slow]


def _config(tmp_path: Path, webpair: Any):  # type: ignore[no-untyped-def]
    cert = CertAuthority(tmp_path / "pki").issue("www.example.test", names=("127.0.0.1",))
    return make_config(tmp_path, [service(webpair.main, webpair.honeypot, rules=["default"], protocol="http",
                                          tls={"cert": str(cert.cert), "key": str(cert.key)})])


async def test_sqlmap_over_https_is_switched_and_dumps_fake_data(tmp_path, webpair) -> None:
    sqlmap = require.program("sqlmap")
    async with running(_config(tmp_path, webpair)) as (app, events):
        port = address(app)[1]
        out = await _run([sqlmap, "-u", f"https://{ATTACKER}:{port}/item?id=1", "--batch", "--level", "1",
                          "--risk", "1", "--technique=BU", "--dbms=SQLite", "-p", "id", "--disable-coloring",
                          "--flush-session", "--output-dir", str(tmp_path / "sqlmap"), "--timeout", "10",
                          "--retries", "1", "-T", "users", "--dump", "--random-agent", "--skip-waf"], tmp_path)
        switches = events.of_type("switch")
        starts = events.of_type("session_start", src_ip=ATTACKER)
    assert switches and all(s["by"] == "detector:signature" for s in switches)
    assert starts and all(s["tls"] is not None and s["tls"]["version"] for s in starts)
    check_main_after_switches(webpair.main, webpair.honeypot, events, ATTACKER)
    assert FAKE_SECRET in out and REAL_SECRET not in out, out[-3000:]


async def test_nmap_ssl_enum_ciphers_and_http_enum_over_https(tmp_path, webpair) -> None:
    nmap = require.program("nmap")
    async with running(_config(tmp_path, webpair)) as (app, events):
        port = address(app)[1]
        out = await _run([nmap, "-sT", "-sV", "-Pn", "-n", "-p", str(port), "--script", "ssl-enum-ciphers,http-enum",
                          "--host-timeout", "100s", ATTACKER], tmp_path, timeout=150)
        switches = events.of_type("switch")
        failures = sum(v for k, v in app.tls_gate.counters.items() if k.startswith("tls:web:") and not k.endswith(":ok"))
        ok = app.tls_gate.count("web", "ok")
    # ssl-enum-ciphers saw what we allow: TLS 1.2 and 1.3 only, strong ciphers
    assert "TLSv1.2:" in out and "TLSv1.3:" in out, out
    assert "TLSv1.0:" not in out and "TLSv1.1:" not in out, out
    assert "least strength: A" in out, out
    # every refused probe was counted; http-enum's requests were switched by its User-Agent
    assert failures > 10 and ok > 10
    assert switches and all(s["src_ip"] == ATTACKER for s in switches)
    check_main_after_switches(webpair.main, webpair.honeypot, events, ATTACKER)
