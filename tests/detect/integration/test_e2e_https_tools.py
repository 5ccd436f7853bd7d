"""sqlmap and nmap over HTTPS: honeyswitch terminates the TLS, the default ruleset sees
the plaintext, and the tools are switched as over HTTP (test_e2e_attack_tools.py).

Main (real data) and honeypot (fake data) are the test web application, plaintext
behind PROXY v2; the client side is HTTPS with a certificate made for the test.
nmap's ssl-enum-ciphers makes dozens of handshakes with ciphers and versions we refuse:
each is counted as a TLS failure, and none disturbs the sessions that did get through.
Two benign HTTPS clients browse meanwhile from their own addresses: they get main's
pages, and nothing of theirs is flagged.
"""
from __future__ import annotations

import asyncio
import hashlib
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2e_web import PAGES, bodies, check_main_after_switches, service
from test_e2e_attack_tools import ATTACKER, FAKE_SECRET, REAL_SECRET, _run

from honeyswitch.testing import require
from honeyswitch.testing.certs import CertAuthority
from honeyswitch.testing.harness import address, make_config, running

pytestmark = [pytest.mark.slow]


def _config(tmp_path: Path, webpair: Any):  # type: ignore[no-untyped-def]
    cert = CertAuthority(tmp_path / "pki").issue("www.example.test", names=("127.0.0.1",))
    return make_config(tmp_path, [service(webpair.main, webpair.honeypot, rules=["default"], protocol="http",
                                          tls={"cert": str(cert.cert), "key": str(cert.key)})])


async def _benign_https(port: int, source: str, ca: Path, stop: asyncio.Event) -> list[tuple[str, int, str]]:
    """A browser-like HTTPS client from its own address, keep-alive, until ``stop``."""
    ctx = ssl.create_default_context(cafile=str(ca))
    got: list[tuple[str, int, str]] = []
    conn = aiohttp.TCPConnector(local_addr=(source, 0), limit=1, ssl=ctx)
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
    async with aiohttp.ClientSession(connector=conn, headers={"User-Agent": ua}) as http:
        while not stop.is_set() and len(got) < 400:
            for path in PAGES[:8]:
                async with http.get(f"https://127.0.0.1:{port}{path}") as r:
                    got.append((path, r.status, hashlib.sha256(await r.read()).hexdigest()))
            await asyncio.sleep(0.05)
    return got


async def _with_benign(app: Any, tmp_path: Path, webpair: Any, attack: Any) -> str:
    """Run ``attack`` while two benign HTTPS clients browse; they must get main's pages,
    unflagged."""
    stop = asyncio.Event()
    port = address(app)[1]
    ca = tmp_path / "pki" / "honeyswitch_test_CA.pem"  # (the CA _config made)

    async def attack_then_stop() -> str:
        try:
            return str(await attack(port))
        finally:
            stop.set()

    out, *benign = await asyncio.gather(attack_then_stop(), _benign_https(port, "127.0.0.11", ca, stop),
                                        _benign_https(port, "127.0.0.12", ca, stop))
    reference = await bodies(webpair.main.port, PAGES[:8])
    results = [r for rs in benign for r in rs]
    assert results and all(status == 200 and digest == reference[path] for path, status, digest in results)
    return out


async def test_sqlmap_over_https_is_switched_and_dumps_fake_data(tmp_path, webpair) -> None:
    sqlmap = require.program("sqlmap")
    async def attack(port: int) -> str:
        return await _run([sqlmap, "-u", f"https://{ATTACKER}:{port}/item?id=1", "--batch", "--level", "1",
                           "--risk", "1", "--technique=BU", "--dbms=SQLite", "-p", "id", "--disable-coloring",
                           "--flush-session", "--output-dir", str(tmp_path / "sqlmap"), "--timeout", "10",
                           "--retries", "1", "-T", "users", "--dump", "--random-agent", "--skip-waf"], tmp_path)

    async with running(_config(tmp_path, webpair)) as (app, events):
        out = await _with_benign(app, tmp_path, webpair, attack)
        switches = events.of_type("switch")
        _no_benign_flagged(events)
        starts = events.of_type("session_start", src_ip=ATTACKER)
    assert switches and all(s["by"] == "detector:signature" for s in switches)
    assert starts and all(s["tls"] is not None and s["tls"]["version"] for s in starts)
    check_main_after_switches(webpair.main, webpair.honeypot, events, ATTACKER)
    assert FAKE_SECRET in out and REAL_SECRET not in out, out[-3000:]


async def test_nmap_ssl_enum_ciphers_and_http_enum_over_https(tmp_path, webpair) -> None:
    nmap = require.program("nmap")
    async def attack(port: int) -> str:
        return await _run([nmap, "-sT", "-sV", "-Pn", "-n", "-p", str(port), "--script", "ssl-enum-ciphers,http-enum",
                           "--host-timeout", "100s", ATTACKER], tmp_path, timeout=150)

    async with running(_config(tmp_path, webpair)) as (app, events):
        out = await _with_benign(app, tmp_path, webpair, attack)
        switches = events.of_type("switch")
        _no_benign_flagged(events)
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


def _no_benign_flagged(events: Any) -> None:
    benign = [e for e in events.events if e.get("src_ip") in ("127.0.0.11", "127.0.0.12")]
    assert any(e["event_type"] == "session_start" for e in benign)
    flagged = [e for e in benign if e["event_type"] in ("alert", "switch", "would_switch", "blacklist_add", "tls_error")]
    assert flagged == [], flagged[:3]
