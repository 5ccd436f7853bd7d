"""Redis with TLS: redis-cli --tls through honeyswitch to plaintext redis-server main and
honeypot; the default ruleset sees the decrypted commands and switches the session."""
from __future__ import annotations

import asyncio
from typing import Any

from tlshelp import tls_table

from honeyswitch.testing import require
from honeyswitch.testing.harness import address, make_config, running
from honeyswitch.testing.procs import RedisServer


async def _cli(pki: dict[str, Any], port: int, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        require.program("redis-cli"), "--tls", "--cacert", str(pki["ca"].ca_path), "--sni", "www.example.test",
        "-h", "127.0.0.1", "-p", str(port), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    return (out + err).decode(errors="replace").strip()


async def test_redis_cli_over_tls_mirrored_then_switched(tmp_path, pki) -> None:
    main, honeypot = RedisServer(tmp_path / "main"), RedisServer(tmp_path / "honeypot")
    try:
        cfg = make_config(tmp_path, [{"name": "cache", "main": main.url, "honeypot": honeypot.url,
                                      "protocol": "redis", "rules": ["default"], "align": "quiet",
                                      "tls": tls_table(pki["web"])}])
        async with running(cfg) as (app, events):
            port = address(app)[1]
            assert await _cli(pki, port, "SET", "k", "v") == "OK"
            assert await _cli(pki, port, "GET", "k") == "v"
            # the attack: CONFIG SET dir, over TLS, seen decrypted and switched
            await _cli(pki, port, "CONFIG", "SET", "dir", "/tmp")
            switch = await events.wait_for("switch")
            starts = events.of_type("session_start")
        assert switch["by"] == "detector:signature" and all(s["tls"]["alpn"] is None for s in starts)
        # both backends got the mirrored SET; only the honeypot got the CONFIG SET (which
        # Redis 7 refuses on its protected "dir", but it is the honeypot that refused it)
        import redis

        for server, config_calls in ((main, 0), (honeypot, 1)):
            r = redis.Redis(port=server.port)
            assert r.get("k") == b"v"
            stats = r.info("commandstats")
            assert stats.get("cmdstat_config|set", {}).get("calls", 0) == config_calls, stats
            r.close()
    finally:
        main.stop()
        honeypot.stop()
