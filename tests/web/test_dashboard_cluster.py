"""The dashboard of one host of a ``[cluster]`` in a real browser: two real daemons
sharing a real redis-server, a session held by the other host shown with its host and
switched from this host's page.  A listing that a compromised host wrote into Redis
(markup in its name and its sessions' fields) is shown as text only."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_browser import assert_not_injected, click, row_state, shot, wait

from honeyswitch.testing import require
from honeyswitch.testing.daemon import TOKEN, Daemon, echo_backends, write_config
from honeyswitch.testing.redisprocs import RedisProc

pytestmark = pytest.mark.slow
EVIL = '<img src=x onerror="window.__pwned=7">'


def clustered(tmp: Path, name: str, redis: RedisProc, main: int, honeypot: int) -> Daemon:
    (tmp / name).mkdir()
    cfg, _, api = write_config(tmp / name, main, honeypot, token=TOKEN)
    cfg.write_text(cfg.read_text() + f'[cluster]\nredis = "{redis.url()}"\nhost = "{name}"\n'
                   "sessions_interval = 0.2\ntimeout = 0.5\n")
    daemon = Daemon(cfg, api)
    daemon.listen = int(cfg.read_text().split('listen = "127.0.0.1:', 1)[1].split('"', 1)[0])  # type: ignore[attr-defined]
    return daemon


def hostile_listing(redis: RedisProc) -> None:
    """What a compromised host could write: its name and sessions full of markup."""
    import time

    session = {"session_id": "<script>window.__pwned=8</script>", "service": EVIL, "src_ip": EVIL,
               "src_port": 1, "state": "mirror", "mode": "proxy", "score": 1.0, "started": time.time(),
               "bytes_from_client": 0, "bytes_main_to_client": 0, "bytes_from_honeypot": 0}
    doc = json.dumps({"node": EVIL, "at": time.time() + 30, "total": 1, "sessions": [session]})
    redis.cli("set", "{honeyswitch}:sessions:" + EVIL, doc, "px", "60000")
    redis.cli("zadd", "{honeyswitch}:nodes", str(int((time.time() + 30) * 1000)), EVIL)


def test_a_session_on_the_other_host_is_shown_with_its_host_and_switched_from_here(
        browser: Any, artifacts: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    require.program("redis-server")
    redis = RedisProc(tmp_path / "redis")
    daemons: list[Daemon] = []
    try:
        with echo_backends() as (main, honeypot):
            a = clustered(tmp_path, "a", redis, main.port, honeypot.port)
            daemons.append(a)
            b = clustered(tmp_path, "b", redis, main.port, honeypot.port)
            daemons.append(b)
            origin = f"http://127.0.0.1:{a.api_port}"
            browser.get(origin + "/")
            browser.find_element(By.ID, "token").send_keys(TOKEN)
            browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
            wait(browser, lambda d: d.find_element(By.ID, "cluster").text.startswith("cluster up"),
                 what="the cluster's state")

            client = socket.create_connection(("127.0.0.1", b.listen), timeout=5)  # type: ignore[attr-defined]
            client.sendall(b"hello")
            assert client.recv(100) == b"M:hello"
            sid = b.api("GET", "/api/v1/sessions")["sessions"][0]["session_id"]
            wait(browser, lambda d: row_state(d, sid) == "mirror", what="b's session on a's page")
            cells = browser.find_element(By.CSS_SELECTOR, f'#sessions tr[data-session="{sid}"]').text
            assert cells.startswith("b ") and browser.find_element(By.CSS_SELECTOR, "#sessions th.host").is_displayed()
            shot(browser, artifacts, "cluster-01-other-host")

            click(browser, "sessions", sid, "switch")
            wait(browser, lambda d: row_state(d, sid) in ("honeypot", "switching"), what="switched on b")
            client.sendall(b"again")
            assert client.recv(100) == b"H:again"
            assert b.api("GET", "/api/v1/sessions")["sessions"][0]["state"] == "honeypot"
            client.close()

            hostile_listing(redis)
            wait(browser, lambda d: EVIL in d.find_element(By.ID, "sessions").text, what="the hostile listing, as text")
            shot(browser, artifacts, "cluster-02-hostile-listing")
            assert_not_injected(browser, origin)
    finally:
        for d in daemons:
            d.stop()
        redis.stop()
