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


REFERENCE = "127.0.0.254"  # the source address of reference fetches straight from a backend


async def bodies(port: int, paths: Iterable[str] = PAGES) -> dict[str, str]:
    """sha256 of each page's body straight from a backend (the reference)."""
    conn = await HttpConnection.open("127.0.0.1", port, source=REFERENCE, proxy_v2=True)
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
    """A benign keep-alive session from its own address: varied GETs until stopped."""

    source: str
    seed: int
    results: list[tuple[str, Response]] = field(default_factory=list)

    async def run(self, port: int, stop: asyncio.Event, min_requests: int, max_requests: int,
                  pause: tuple[float, float] = (0.005, 0.03)) -> None:
        rng = random.Random(self.seed)
        ua = rng.choice(UAS)
        conn = await HttpConnection.open("127.0.0.1", port, source=self.source)
        try:
            while len(self.results) < max_requests and (len(self.results) < min_requests or not stop.is_set()):
                path = rng.choice(PAGES)
                resp = await conn.request("GET", path, {"User-Agent": ua, "Accept": "*/*"})
                self.results.append((path, resp))
                await asyncio.sleep(rng.uniform(*pause))
        finally:
            await conn.close()

    def wrong(self, reference: dict[str, str]) -> list[str]:
        return [p for p, r in self.results if r.status != 200 or r.sha256 != reference[p]]


def client_of(entry: dict[str, Any]) -> tuple[str, int]:
    host, _, port = entry["client"].rpartition(":")
    return host, int(port)


def check_main_after_switches(main: WebAppProcess, honeypot: WebAppProcess, events: Any,
                              attacker_ip: str) -> dict[str, int]:
    """What main's access log shows of the attacker, once honeyswitch decided:

    * a switched session: only requests from before its switch, a strict prefix of what
      the honeypot got (the switching request and all after it went to the honeypot);
    * once the address is blacklisted (on the switch, or by its source score) every new
      session of it is direct, and main has no request of any direct session;
    * so every request the honeypot alone got is absent from main's log.

    Returns counts for the report."""
    main_log, hp_log = main.entries(), honeypot.entries()
    switches = events.of_type("switch", src_ip=attacker_ip)
    listed = events.of_type("blacklist_add", ip=attacker_ip)
    starts = events.of_type("session_start", src_ip=attacker_ip)
    assert switches or listed, "the attacker was neither switched nor blacklisted"
    only_hp = []
    for sw in switches:
        client = f"{sw['src_ip']}:{sw['src_port']}"
        on_main = [e for e in main_log if e["client"] == client]
        on_hp = [e for e in hp_log if e["client"] == client]
        # A session switched because its source was just blacklisted may have a request
        # on its way to main (sent before the source crossed): main logs it a moment
        # after the switch.  A detector's switch stops the request that triggered it.
        grace = 0.5 if sw["by"] == "blacklist" else 0.0
        assert all(e["time"] < when(sw) + grace for e in on_main), (sw, on_main)
        assert [(e["method"], e["target"]) for e in on_main] == \
            [(e["method"], e["target"]) for e in on_hp[:len(on_main)]], client
        if sw["by"] != "blacklist":  # a detector's switch: the triggering request on the honeypot only
            assert len(on_hp) > len(on_main), client
        only_hp += on_hp[len(on_main):]
    if listed:
        late = [s for s in starts if when(s) > when(listed[0])]
        assert all(s["state"] == "direct" for s in late), [s for s in late if s["state"] != "direct"][:3]
    direct = {f"{s['src_ip']}:{s['src_port']}" for s in starts if s["state"] == "direct"}
    assert not [e for e in main_log if e["client"] in direct]
    only_hp += [e for e in hp_log if e["client"] in direct]
    main_keys = {(e["client"], e["seq"], e["target"]) for e in main_log}
    assert not [e for e in only_hp if (e["client"], e["seq"], e["target"]) in main_keys]
    return {"main": sum(client_of(e)[0] == attacker_ip for e in main_log),
            "honeypot": sum(client_of(e)[0] == attacker_ip for e in hp_log),
            "honeypot_only": len(only_hp), "direct_sessions": len(direct)}


async def until(cond: Any, timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
