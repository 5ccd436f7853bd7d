"""Shared pieces of the end-to-end tests around a protected web application.

Main and honeypot are two :mod:`honeyswitch.testing.webapp` processes, main with the real
data set and the honeypot with the fake one, both behind PROXY v2 so their access logs
name the real client address (and so the honeyswitch session) of every request.

Source addresses: the attacker is one loopback address, every benign client another (a
switch blacklists the attacker's address, and its new sessions then go straight to the
honeypot; benign sessions must not share it).
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from honeyswitch.testing.httpclient import HttpConnection, Response
from honeyswitch.testing.webapp import WebAppProcess

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
]
SEARCH = ["oak", "steel hammer", "lamp", "caf\u00e9 cr\u00e8me", "blue & green", "50% off", "tie",
          "chair's legs", "kettle", "", "a+b", "scarf (wool)"]
# Read-only pages whose bodies depend only on the data set
PAGES = ["/", "/robots.txt", "/api/items"] + [f"/item?id={i}" for i in range(1, 13)] + \
        [f"/search?q={quote(w)}" for w in SEARCH]


def service(main: WebAppProcess, honeypot: WebAppProcess, **extra: Any) -> dict[str, Any]:
    return {"name": "web", "main": main.url, "honeypot": honeypot.url, "align": "quiet",
            "quiet_time": 0.05, "main_proxy_protocol": "v2", "honeypot_proxy_protocol": "v2", **extra}


async def bodies(port: int, paths: Iterable[str] = PAGES) -> dict[str, str]:
    """sha256 of each page's body straight from a backend (the reference)."""
    conn = await HttpConnection.open("127.0.0.1", port, proxy_v2=True)
    try:
        out = {}
        for p in paths:
            out[p] = (await conn.get(p)).sha256
        return out
    finally:
        await conn.close()


def when(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


@dataclass
class Benign:
    """A benign keep-alive session: varied GETs (and an occasional failed login)."""

    source: str
    seed: int
    results: list[tuple[str, Response]] = field(default_factory=list)
    conn: HttpConnection | None = None

    async def run(self, port: int, stop: asyncio.Event, min_requests: int, max_requests: int,
                  pause: tuple[float, float] = (0.005, 0.03)) -> None:
        rng = random.Random(self.seed)
        ua = rng.choice(UAS)
        self.conn = await HttpConnection.open("127.0.0.1", port, source=self.source)
        try:
            while len(self.results) < max_requests and (len(self.results) < min_requests or not stop.is_set()):
                path = rng.choice(PAGES)
                resp = await self.conn.request("GET", path, {"User-Agent": ua, "Accept": "*/*"})
                self.results.append((path, resp))
                await asyncio.sleep(rng.uniform(*pause))
        finally:
            await self.conn.close()

    def wrong(self, reference: dict[str, str]) -> list[str]:
        return [p for p, r in self.results if r.status != 200 or r.sha256 != reference[p]]


def client_of(entry: dict[str, Any]) -> tuple[str, int]:
    host, _, port = entry["client"].rpartition(":")
    return host, int(port)


def check_main_after_switches(main: WebAppProcess, honeypot: WebAppProcess,
                              switches: list[dict[str, Any]], attacker_ip: str) -> dict[str, int]:
    """Main's access log shows nothing of a switched session after its switch point, and
    nothing at all of the attacker's address after its first switch (blacklisted: its
    new sessions go to the honeypot only).  Every honeypot request from the attacker
    after that point is absent from main's log.  Returns counts for the report."""
    assert switches, "no switch happened"
    main_log, hp_log = main.entries(), honeypot.entries()
    first = min(when(s) for s in switches)
    for sw in switches:
        client = f"{sw['src_ip']}:{sw['src_port']}"
        on_main = [e for e in main_log if e["client"] == client]
        on_hp = [e for e in hp_log if e["client"] == client]
        assert all(e["time"] < when(sw) for e in on_main), (sw, on_main)
        # main saw a strict prefix of what the honeypot saw: the switching request and
        # everything after it went to the honeypot only
        assert [(e["method"], e["target"]) for e in on_main] == \
            [(e["method"], e["target"]) for e in on_hp[:len(on_main)]], client
        assert len(on_hp) > len(on_main), client
    later_main = [e for e in main_log if client_of(e)[0] == attacker_ip and e["time"] >= first]
    assert later_main == [], later_main[:3]
    later_hp = [e for e in hp_log if client_of(e)[0] == attacker_ip and e["time"] >= first]
    main_keys = {(e["client"], e["method"], e["target"]) for e in main_log}
    assert not any((e["client"], e["method"], e["target"]) in main_keys for e in later_hp)
    return {"main": sum(client_of(e)[0] == attacker_ip for e in main_log),
            "honeypot": sum(client_of(e)[0] == attacker_ip for e in hp_log),
            "honeypot_after_switch": len(later_hp)}


async def until(cond: Any, timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
