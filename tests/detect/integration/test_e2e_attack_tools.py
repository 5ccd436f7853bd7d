"""Real attack tools from Debian against a protected web application, with honeyswitch's
default ruleset inline (``rules = ["default"]``, ``protocol = "http"``).

Main (real data) and honeypot (fake data) are two processes of the injectable test app.
Each tool runs from 127.0.0.1; benign clients (curl, http.client, aiohttp) run at the
same time from other loopback addresses.  After each run:

* sqlmap and nmap: a session of the tool was switched by a signature, and its address
  blacklisted; hydra (one connection per attempt, 60 points each): its address is
  blacklisted by its source score;
* main's access log shows no request of a switched session after its switch point, and
  no request of any later session of the tool (those go straight to the honeypot);
  what the tool got from then on came from the fake data;
* no benign session was switched or alerted on, and every benign reply is main's.
"""
from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import aiohttp
import pytest
from e2e_web import PAGES, bodies, check_main_after_switches, service

from honeyswitch.testing import require
from honeyswitch.testing.harness import address, make_config, running
from honeyswitch.testing.webapp import LOGIN_FORM

pytestmark = [pytest.mark.slow]

ATTACKER = "127.0.0.1"
REAL_SECRET, FAKE_SECRET = "real-S3cret-9f2c", "honey-token-51ab"
TOOL_TIMEOUT = 120.0


def _config(tmp_path: Path, webpair: Any, **extra: Any):
    return make_config(tmp_path, [service(webpair.main, webpair.honeypot, rules=["default"], protocol="http",
                                          **extra)])


async def _run(argv: list[str], tmp_path: Path, timeout: float = TOOL_TIMEOUT) -> str:
    """Run a tool (bounded); its stdout+stderr as text."""
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT,
                                                stdin=asyncio.subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{argv[0]} did not finish in {timeout}s") from None
    return out.decode("utf-8", "replace")


# ------------------------------------------------------------------ benign clients


BENIGN_SEARCH = ["oak", "union jack", "select chair", "caf\u00e9 cr\u00e8me", "50% off", "o'brien lamp",
                 "drop-leaf table", "kettle & pot", "--sale--", "1=1 pack"]


def _benign_plan() -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(method, target, body, headers): 25 varied requests a normal visitor makes."""
    form = "application/x-www-form-urlencoded"
    plan: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("GET", p, b"", {}) for p in ("/", "/robots.txt", "/api/items", "/item?id=3", "/item?id=12")]
    plan += [("GET", f"/search?q={quote(q)}", b"", {"Referer": "http://127.0.0.1/"}) for q in BENIGN_SEARCH]
    plan += [("HEAD", "/", b"", {}), ("GET", "/missing/page.html", b"", {}),
             ("GET", "/api/items", b"", {"Accept": "application/json", "Cookie": "session=ab12cd34; theme=dark"}),
             ("POST", "/login", b"user=alice&password=real-alice-77d1", {"Content-Type": form}),
             ("POST", "/login", b"user=alice&password=typo-alice", {"Content-Type": form}),
             ("POST", "/login", b"user=bob&password=real-bob-0a4e&remember=on", {"Content-Type": form}),
             ("GET", "/item?id=7", b"", {"If-None-Match": '"x1"'}),
             ("GET", "/search?q=" + quote("steel hammer") + "&page=2&sort=price", b"", {}),
             ("GET", "/item?id=5&utm_source=newsletter&utm_medium=email", b"", {}),
             ("GET", "/", b"", {"Accept-Language": "de-DE,de;q=0.9,en;q=0.7"})]
    return plan


def _expected(method: str, target: str, body: bytes) -> tuple[int, str | None]:
    """Main's answer: (status, sha256 of the body or None: the reference page decides).
    A switched session would get the honeypot's: its passwords differ."""
    if target.startswith("/missing"):
        return 404, None
    if method == "HEAD":
        return 200, hashlib.sha256(b"").hexdigest()
    if method != "POST":
        return 200, None
    form = parse_qs(body.decode())
    user = form["user"][0]
    ok = form["password"][0] == {"alice": "real-alice-77d1", "bob": "real-bob-0a4e"}.get(user)
    page = f"<p>welcome {user}</p>\n".encode() if ok else b"<p>invalid credentials</p>\n" + LOGIN_FORM
    return 200, hashlib.sha256(page).hexdigest()


# method, target, status, sha256 of the body, expected (status, sha256)
Result = tuple[str, str, int, str, tuple[int, str | None]]


async def _aiohttp_client(port: int, source: str) -> list[Result]:
    out = []
    conn = aiohttp.TCPConnector(local_addr=(source, 0), limit=1)
    async with aiohttp.ClientSession(connector=conn, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; "
                                                                            "rv:121.0) Gecko/20100101 Firefox/121.0"}) as s:
        for method, target, body, headers in _benign_plan():
            async with s.request(method, f"http://127.0.0.1:{port}{target}", data=body or None,
                                 headers=headers, allow_redirects=False) as r:
                data = await r.read()
                out.append((method, target, r.status, hashlib.sha256(data).hexdigest(),
                            _expected(method, target, body)))
    return out


def _stdlib_client(port: int, source: str) -> list[Result]:
    """http.client (what urllib uses), one keep-alive connection from ``source``."""
    out = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        for method, target, body, headers in _benign_plan():
            conn.request(method, target, body=body or None, headers={"User-Agent": "Python-urllib/3.11", **headers})
            r = conn.getresponse()
            data = r.read()
            out.append((method, target, r.status, hashlib.sha256(data).hexdigest(),
                        _expected(method, target, body)))
    finally:
        conn.close()
    return out


async def _curl_client(port: int, source: str, tmp_path: Path) -> list[Result]:
    """One curl run over many URLs (curl reuses its connection between them)."""
    curl = require.program("curl")
    gets = [p for p in PAGES if "?" in p or p == "/"][:20]
    (tmp_path / "curl").mkdir(exist_ok=True)
    argv = [curl, "-s", "--interface", source, "-A", "curl/7.88.1", "-w", "%{http_code}\\n"]
    files = []
    for i, path in enumerate(gets):
        files.append(tmp_path / "curl" / f"{source}-{i}")
        argv += [f"http://127.0.0.1:{port}{path}", "-o", str(files[-1])]
    codes = (await _run(argv, tmp_path, 60)).split()
    assert len(codes) == len(gets), codes
    return [("GET", p, int(c), hashlib.sha256(f.read_bytes()).hexdigest(), (200, None))
            for p, c, f in zip(gets, codes, files, strict=True)]


async def _benign_round(port: int, tmp_path: Path, n: int) -> list[Result]:
    results = await asyncio.gather(
        _aiohttp_client(port, f"127.0.0.{10 + n}"),
        asyncio.to_thread(_stdlib_client, port, f"127.0.0.{20 + n}"),
        _curl_client(port, f"127.0.0.{30 + n}", tmp_path))
    return [r for rs in results for r in rs]


class BenignTraffic:
    """Rounds of benign clients until stopped (bounded), then the checks."""

    def __init__(self, port: int, tmp_path: Path, max_rounds: int = 4) -> None:
        self.port, self.tmp_path, self.max_rounds = port, tmp_path, max_rounds
        self.results: list[Result] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        for n in range(self.max_rounds):
            self.results += await _benign_round(self.port, self.tmp_path, n)
            if self.stop.is_set():
                return

    async def check(self, events: Any, main_port: int) -> dict[str, int]:
        ref = await bodies(main_port, sorted({t for m, t, *_ in self.results if m == "GET"}))
        wrong = [(m, t, s) for m, t, s, h, (want, want_sha) in self.results
                 if s != want or h != (want_sha or ref[t])]
        assert wrong == [], wrong[:5]
        assert sum(m == "POST" for m, *_ in self.results) >= 6
        benign = [e for e in events.events if str(e.get("src_ip") or "").startswith("127.0.0.")
                  and e.get("src_ip") != ATTACKER]
        flagged = [e for e in benign if e["event_type"] in ("alert", "switch", "would_switch", "blacklist_add")]
        assert flagged == [], flagged[:3]
        return {"requests": len(self.results), "sessions": sum(e["event_type"] == "session_start" for e in benign)}


# ----------------------------------------------------------------------- tools


async def _with_benign(tmp_path: Path, app: Any, attack: Any) -> tuple[str, BenignTraffic]:
    port = address(app)[1]
    benign = BenignTraffic(port, tmp_path)

    async def attack_then_stop() -> str:
        try:
            return await attack(port)
        finally:
            benign.stop.set()

    out, _ = await asyncio.gather(attack_then_stop(), benign.run())
    return out, benign


def _report(tool: str, events: Any, counts: dict[str, int], benign: dict[str, int], extra: str = "") -> None:
    switches = events.of_type("switch", src_ip=ATTACKER)
    first = f"first by {switches[0]['reason']!r}" if switches else "none"
    sids = sorted({a.get("sid") for a in events.of_type("alert", src_ip=ATTACKER) if a.get("sid")})
    print(f"\n{tool}: {len(switches)} switched session(s), {first}; "
          f"attacker sessions {len(events.of_type('session_start', src_ip=ATTACKER))} "
          f"({counts['direct_sessions']} direct); attacker requests on main {counts['main']}, "
          f"honeypot {counts['honeypot']} ({counts['honeypot_only']} on the honeypot only); sids {sids}; "
          f"benign {benign['requests']} requests in {benign['sessions']} sessions, none flagged{extra}")


@pytest.mark.parametrize("agent", ["random-agent", "sqlmap-agent"])
async def test_sqlmap_is_switched_and_dumps_fake_data(tmp_path, webpair, agent):
    sqlmap = require.program("sqlmap")
    out_dir = tmp_path / "sqlmap"

    async def attack(port: int) -> str:
        argv = [sqlmap, "-u", f"http://{ATTACKER}:{port}/item?id=1", "--batch", "--level", "1", "--risk", "1",
                "--technique=BU", "--dbms=SQLite", "-p", "id", "--disable-coloring", "--flush-session",
                "--output-dir", str(out_dir), "--timeout", "10", "--retries", "1", "-T", "users", "--dump"]
        # a browser User-Agent and no WAF probe: the injection payloads themselves must be
        # caught; with sqlmap's own User-Agent its first request is already switched
        argv += ["--random-agent", "--skip-waf"] if agent == "random-agent" else []
        return await _run(argv, tmp_path)

    async with running(_config(tmp_path, webpair)) as (app, events):
        out, benign = await _with_benign(tmp_path, app, attack)
        benign_counts = await benign.check(events, webpair.main.port)
        switches = events.of_type("switch")
        listed = events.of_type("blacklist_add", ip=ATTACKER)
    assert switches and all(s["src_ip"] == ATTACKER and s["by"] == "detector:signature" for s in switches)
    assert listed
    counts = check_main_after_switches(webpair.main, webpair.honeypot, events, ATTACKER)
    # sqlmap found the injection and dumped the table: the honeypot's copy
    assert FAKE_SECRET in out and REAL_SECRET not in out, out[-3000:]
    _report(f"sqlmap ({agent})", events, counts, benign_counts)


async def test_nmap_service_and_script_scan_is_switched(tmp_path, webpair):
    nmap = require.program("nmap")

    async def attack(port: int) -> str:
        return await _run([nmap, "-sT", "-sV", "-Pn", "-n", "-p", str(port), "--script", "http-title,http-headers",
                           "--host-timeout", "60s", ATTACKER], tmp_path)

    # NSE sends each request on a new connection; the default ruleset scores its
    # User-Agent 100, so each of its sessions switches at its first request.
    async with running(_config(tmp_path, webpair)) as (app, events):
        out, benign = await _with_benign(tmp_path, app, attack)
        benign_counts = await benign.check(events, webpair.main.port)
        switches = events.of_type("switch")
    assert "open" in out, out
    assert switches and all(s["src_ip"] == ATTACKER for s in switches), out
    counts = check_main_after_switches(webpair.main, webpair.honeypot, events, ATTACKER)
    _report("nmap -sV --script http-title,http-headers", events, counts, benign_counts)


async def test_hydra_login_brute_force_is_switched(tmp_path, webpair):
    hydra = require.program("hydra")
    words = [f"guess{i:02d}" for i in range(40)] + [FAKE_SECRET, REAL_SECRET]
    (tmp_path / "passwords.txt").write_text("\n".join(words) + "\n")

    async def attack(port: int) -> str:
        return await _run([hydra, "-l", "admin", "-P", str(tmp_path / "passwords.txt"), "-s", str(port), "-t", "2",
                           "-w", "10", "-I", "-o", str(tmp_path / "hydra.out"), "-b", "json", ATTACKER,
                           "http-post-form", "/login:user=^USER^&password=^PASS^:F=invalid credentials"],
                          tmp_path)

    async with running(_config(tmp_path, webpair)) as (app, events):
        out, benign = await _with_benign(tmp_path, app, attack)
        benign_counts = await benign.check(events, webpair.main.port)
    found = json.loads((tmp_path / "hydra.out").read_text() or "{}").get("results", [])
    # Hydra opens a connection per attempt, each request scored 60 by its User-Agent: no
    # session reaches the switch threshold (100) by itself.  Its source score does: the
    # request that carries it over the blacklist threshold (200) is switched before main
    # sees it, and from then on every attempt goes straight to the honeypot.
    listed = events.of_type("blacklist_add", ip=ATTACKER)
    assert listed, out
    assert any(s["reason"].startswith("source score") for s in events.of_type("switch")), out
    counts = check_main_after_switches(webpair.main, webpair.honeypot, events, ATTACKER)
    assert counts["main"] <= 4, counts  # the requests before the source added up
    # the password hydra "found" is the honeypot's, never main's
    assert [r["password"] for r in found] == [FAKE_SECRET], out
    _report("hydra http-post-form", events, counts, benign_counts,
            f"; blacklisted by {listed[0]['by']}; hydra found {found[0]['password']!r}")


async def test_hydra_with_a_browser_user_agent_is_caught_by_its_login_rate(tmp_path, webpair):
    """The User-Agent rule cannot see this one: the login-rate rule (sid 9000230, every
    login post after the 10th in a minute) and the source score catch it."""
    hydra = require.program("hydra")
    words = [f"guess{i:02d}" for i in range(40)] + [FAKE_SECRET, REAL_SECRET]
    (tmp_path / "passwords.txt").write_text("\n".join(words) + "\n")
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

    async def attack(port: int) -> str:
        form = "/login:user=^USER^&password=^PASS^:H=User-Agent\\: " + ua.replace(":", "\\:") + ":F=invalid credentials"
        return await _run([hydra, "-l", "admin", "-P", str(tmp_path / "passwords.txt"), "-s", str(port), "-t", "2",
                           "-w", "10", "-I", "-o", str(tmp_path / "hydra.out"), "-b", "json", ATTACKER,
                           "http-post-form", form], tmp_path)

    async with running(_config(tmp_path, webpair)) as (app, events):
        out, benign = await _with_benign(tmp_path, app, attack)
        benign_counts = await benign.check(events, webpair.main.port)
    sids = {a.get("sid") for a in events.of_type("alert") if a["src_ip"] == ATTACKER}
    assert 9000230 in sids and 9000057 not in sids, (sids, out)
    assert events.of_type("blacklist_add", ip=ATTACKER), out
    counts = check_main_after_switches(webpair.main, webpair.honeypot, events, ATTACKER)
    # hydra sends a GET and a POST per attempt: 10 free attempts, then 3 more until the
    # source adds up (60 per attempt past the 10th; 240 >= 200 switches and blacklists)
    assert counts["main"] <= 28, counts
    # hydra copies its command line into the JSON unescaped (the "\\:" of the header
    # is not valid JSON), so read the passwords out of it directly
    found = re.findall(r'"password":\s*"([^"]*)"', (tmp_path / "hydra.out").read_text())
    assert found == [FAKE_SECRET], out
    _report("hydra http-post-form (browser User-Agent)", events, counts, benign_counts,
            f"; hydra found {found[0]!r}")
