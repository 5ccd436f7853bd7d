"""The dashboard page, its live event stream and the Prometheus metrics."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from honeyswitch.api.server import bound_address
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
async def base(tmp_path, make_server):
    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        host, port = bound_address(app.api)
        yield app, f"http://{host}:{port}"


async def test_page_is_public_but_holds_no_data_and_forbids_inline_script(base):
    app, url = base
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/") as resp:
            assert resp.status == 200
            html = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
        async with http.get(url + "/static/app.js") as resp:
            assert resp.status == 200 and "textContent" in await resp.text()
        async with http.get(url + "/static/../api/v1/sessions") as resp:
            assert resp.status in (401, 403, 404)
        async with http.get(url + "/api/v1/stream") as resp:
            assert resp.status == 401
    assert "script-src 'self'" in csp and "<script>" not in html


async def test_stream_carries_events_as_they_happen(base):
    app, url = base
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(url + "/api/v1/stream") as resp:
            assert resp.headers["Content-Type"].startswith("application/x-ndjson")
            await asyncio.sleep(0.05)
            app.blacklist.add("198.18.0.44", reason="<script>alert(1)</script>", by="test")
            line = await asyncio.wait_for(resp.content.readline(), 5)
    event = json.loads(line)
    assert event["event_type"] == "blacklist_add" and event["ip"] == "198.18.0.44"


async def test_metrics_count_sessions_and_events(base):
    app, url = base
    reader, writer = await connect(app)
    writer.write(b"x")
    await asyncio.wait_for(reader.readexactly(1), 5)
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/metrics") as resp:
            assert resp.status == 401
        async with http.get(url + "/metrics", headers=AUTH) as resp:
            text = await resp.text()
    writer.close()
    assert 'honeyswitch_sessions{service="s",state="mirror"} 1.0' in text
    assert 'honeyswitch_events_total{event_type="session_start"} 1.0' in text
