"""TLS with ``[daemon] workers = 2``: every worker terminates TLS with the service's
certificate, and the TLS counters of both add up in the supervisor's health."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tlshelp import client_ctx

from honeyswitch.testing import servers
from honeyswitch.testing.procs import free_port

pytestmark = pytest.mark.slow
TOKEN = "tls-cluster-token"


async def _health(port: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        return dict(await resp.json())


async def test_two_workers_terminate_tls(tmp_path: Path, make_server, pki: dict[str, Any]) -> None:
    main, honeypot = await make_server(servers.echo(b"M:")), await make_server(servers.echo(b"H:"))
    listen, api = free_port(), free_port()
    web = pki["web"]
    cfg = tmp_path / "honeyswitch.toml"
    cfg.write_text(f"""
[daemon]
workers = 2
shard = "connection"
[[service]]
name = "echo"
listen = "127.0.0.1:{listen}"
main = "{main.url}"
honeypot = "{honeypot.url}"
tls = {{ cert = "{web.cert}", key = "{web.key}" }}
[store]
path = "state/hs.db"
[events]
path = "events.jsonl"
[transcripts]
dir = "transcripts"
[control]
listen = "127.0.0.1:{api}"
token = "{TOKEN}"
""")
    proc = subprocess.Popen([sys.executable, "-m", "honeyswitch", "run", "-c", str(cfg)], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                if (await _health(api)).get("workers_up") == 2:
                    break
            except (aiohttp.ClientError, OSError):
                pass
            assert time.monotonic() < deadline, "cluster did not come up"
            await asyncio.sleep(0.1)
        for i in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", listen, ssl=client_ctx(pki),
                                                           server_hostname="www.example.test")
            writer.write(b"%d\n" % i)
            assert await asyncio.wait_for(reader.readexactly(len(b"M:%d\n" % i)), 5) == b"M:%d\n" % i
            writer.close()
        _, bad = await asyncio.open_connection("127.0.0.1", listen)
        bad.write(b"not tls at all\r\n")
        await asyncio.sleep(0.5)
        bad.close()
        counters = (await _health(api))["counters"]
        assert counters.get("tls:echo:ok") == 20 and counters.get("tls:echo:hello") == 1, counters
        starts = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()
                  if '"session_start"' in line]
        assert len(starts) == 20 and all(s["tls"]["sni"] == "www.example.test" for s in starts)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
