"""``honeyswitch demo``: everything on loopback, nothing outside needed.

Starts the demo-kv service twice (main with real records, honeypot with fake ones),
honeyswitch in front of them with the demo's signature rules, then plays a benign client
and an attacker.  The attacker's reconnaissance matches a rule before it is forwarded:
its session is switched, the request goes to the honeypot only, and the attacker goes
on, served fake data, without noticing.  Prints what each side saw and where the records
are.
"""
from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from ..api.server import bound_address
from ..app import App
from ..config import build
from ..record.transcripts import read_transcript, render_text
from . import service

Print = Callable[[str], None]


class LineClient:
    """A demo client that logs each command and reply."""

    def __init__(self, name: str, out: Print) -> None:
        self.name, self.out = name, out
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, host: str, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        greeting = await asyncio.wait_for(self.reader.readline(), 5)
        self.out(f"  {self.name:<8} <- {greeting.decode().rstrip()}")

    @property
    def port(self) -> int:
        assert self.writer is not None
        return self.writer.get_extra_info("sockname")[1]

    async def cmd(self, line: str) -> list[str]:
        assert self.reader is not None and self.writer is not None
        self.out(f"  {self.name:<8} -> {line}")
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        replies = []
        while True:
            reply = (await asyncio.wait_for(self.reader.readline(), 5)).decode().rstrip("\n")
            replies.append(reply)
            self.out(f"  {self.name:<8} <- {reply}")
            if line != "KEYS" or reply == "END":
                return replies

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_demo(workdir: Path, out: Print = print) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    main_store = service.Store(dict(service.REAL_DATA))
    hp_store = service.Store(dict(service.FAKE_DATA))
    main_srv = await service.serve(main_store, "127.0.0.1", 0)
    hp_srv = await service.serve(hp_store, "127.0.0.1", 0)
    main_port = main_srv.sockets[0].getsockname()[1]
    hp_port = hp_srv.sockets[0].getsockname()[1]
    token = secrets.token_urlsafe(16)
    cfg = build(
        {
            "service": [{
                "name": "demo-kv",
                "listen": "127.0.0.1:0",
                "main": f"tcp://127.0.0.1:{main_port}",
                "honeypot": f"tcp://127.0.0.1:{hp_port}",
                # The honeypot's records differ from main's, so its replies differ in
                # length: quiet alignment hands over between whole replies.
                "align": "quiet",
                "quiet_time": 0.1,
                "rules": [str(Path(__file__).with_name("demo.rules"))],
            }],
            "control": {"listen": "127.0.0.1:0", "token": token},
            "blacklist": {"ttl": 600},
        },
        str(workdir / "demo.toml"),
        workdir,
    )
    app = App(cfg)
    seen: list[dict[str, Any]] = []
    app.subscribe(seen.append)
    await app.start()
    try:
        return await _play(app, token, main_store, hp_store, seen, out)
    finally:
        await app.stop()
        main_srv.close()
        hp_srv.close()


async def _show_alerts(seen: list[dict[str, Any]], token: str, host: str, port: int, sid: str,
                       out: Print) -> None:
    """What an operator sees: the session's alerts and state, from the control API."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(f"http://{host}:{port}/api/v1/sessions/{sid}") as resp:
            session = (await resp.json())["session"]
    for e in seen:
        if e["event_type"] != "alert" or e["session_id"] != sid:
            continue
        out(f"  alert  {e['detector']} score {e['score']:g} (session {e['session_score']:g}): {e['reason']}")
    out(f"  GET /api/v1/sessions/{sid} -> state {session['state']}, score {session['score']:g}")


async def _play(app: App, token: str, main_store: service.Store, hp_store: service.Store,
                seen: list[dict[str, Any]], out: Print) -> int:
    host, port = app.listening("demo-kv")[0]
    api_host, api_port = bound_address(app.api)
    cfg = app.config
    out(f"honeyswitch demo: service demo-kv on {host}:{port}")
    out(f"  main     {cfg.services[0].main.url} (real records)")
    out(f"  honeypot {cfg.services[0].honeypot.url} (same service, fake records)\n")

    out("1. A benign client and an attacker connect; both are mirrored (main serves them).")
    benign, attacker = LineClient("benign", out), LineClient("attacker", out)
    await benign.connect(host, port)
    await attacker.connect(host, port)
    await benign.cmd("GET customer:1001")
    await attacker.cmd("GET customer:1002")

    out("\n2. The attacker enumerates the keys: a signature matches before main sees it,")
    out("   the session is switched, and the honeypot answers:")
    sid = next(r.id for r in app.registry if r.peer.src_port == attacker.port)
    await attacker.cmd("KEYS")
    await _show_alerts(seen, token, api_host, api_port, sid, out)

    out("\n3. The attacker goes on, unaware; the benign client is untouched:")
    stolen = await attacker.cmd("GET config:db_password")
    await attacker.cmd("SET backdoor:ssh ssh-ed25519 AAAA...attacker")
    await benign.cmd("SET note:1001 call back tomorrow")
    await benign.cmd("GET customer:1001")
    await attacker.cmd("QUIT")
    await benign.cmd("QUIT")
    await attacker.close()
    await benign.close()
    await asyncio.sleep(0.2)

    out("\n4. What each side saw:")
    out(f"  attacker's 'stolen' password: {stolen[0]!r} (a honeytoken)")
    out(f"  main received from clients:     {main_store.log}")
    out(f"  honeypot received from clients: {hp_store.log}")
    out(f"  main has backdoor key? {'backdoor:ssh' in main_store.data}; "
        f"honeypot has it? {'backdoor:ssh' in hp_store.data}")
    out(f"  main's real password intact? {main_store.data['config:db_password'] == service.REAL_DATA['config:db_password']}")
    out(f"  attacker's address blacklisted: {[e['ip'] for e in app.blacklist.entries()] if app.blacklist else []}")

    assert app.writer is not None
    app.writer.flush(5)
    transcript = cfg.transcripts_dir / f"{sid}.jsonl"
    out("\n5. Records:")
    out(f"  events (JSON lines): {cfg.events_path}")
    out(f"  SQLite store:        {cfg.store_path}")
    out(f"  transcript:          {transcript}")
    out(f"  (replay: honeyswitch transcript -c {cfg.source} {sid})\n")
    if transcript.exists():
        out(render_text(list(read_transcript(transcript))))
    ok = (stolen[0].startswith("VALUE changeme-honeytoken") and "backdoor:ssh" not in main_store.data
          and not any(line.strip() == "KEYS" for line in main_store.log))
    out("demo: OK" if ok else "demo: FAILED")
    return 0 if ok else 1
