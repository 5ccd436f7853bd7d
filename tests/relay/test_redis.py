"""Two real redis-server instances (main, honeypot) behind honeyswitch."""
from __future__ import annotations

import asyncio
import subprocess

import pytest
import redis
import redis.asyncio as aioredis

from honeyswitch.testing import require
from honeyswitch.testing.harness import make_config, running
from honeyswitch.testing.procs import RedisServer


@pytest.fixture
def redis_pair(tmp_path):
    require.program("redis-server")
    main = RedisServer(tmp_path / "main")
    honeypot = RedisServer(tmp_path / "honeypot")
    yield main, honeypot
    main.stop()
    honeypot.stop()


async def test_after_the_switch_writes_land_only_on_the_honeypot(tmp_path, redis_pair):
    main, honeypot = redis_pair
    redis.Redis(port=main.port).set("secret", "real-customer-data")
    redis.Redis(port=honeypot.port).set("secret", "fake-but-plausible")
    cfg = make_config(tmp_path, [{"name": "redis", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        host, port = app.listening("redis")[0]
        client = aioredis.Redis(host=host, port=port, single_connection_client=True)
        await client.set("counter", 1)  # mirrored: lands on both
        assert await client.get("secret") == b"real-customer-data"
        sid = next(iter(app.registry)).id
        assert app.switch_session(sid, "operator", "test")
        await client.set("planted", "attacker-was-here")
        await client.incr("counter")
        assert await client.get("secret") == b"fake-but-plausible"
        assert await client.get("counter") == b"2"  # honeypot state matched main's
        await client.aclose()
        await events.wait_for("session_end")
    m, h = redis.Redis(port=main.port), redis.Redis(port=honeypot.port)
    assert m.get("planted") is None and m.get("counter") == b"1"
    assert h.get("planted") == b"attacker-was-here" and h.get("counter") == b"2"
    # Main saw the connection reset, from its own point of view.
    assert m.get("secret") == b"real-customer-data"


async def test_redis_cli_through_honeyswitch(tmp_path, redis_pair):
    require.program("redis-cli")
    main, honeypot = redis_pair
    cfg = make_config(tmp_path, [{"name": "redis", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        host, port = app.listening("redis")[0]
        proc = await asyncio.create_subprocess_exec(
            "redis-cli", "-h", host, "-p", str(port), "SET", "via-cli", "yes",
            stdout=subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        assert out.strip() == b"OK"
        await events.wait_for("session_end")
    assert redis.Redis(port=main.port).get("via-cli") == b"yes"
    assert redis.Redis(port=honeypot.port).get("via-cli") == b"yes"
