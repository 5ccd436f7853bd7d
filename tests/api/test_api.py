"""The control API over real HTTP: auth, validation, switching, blacklist."""
from __future__ import annotations

import aiohttp
import pytest

from honeyswitch.api.server import bound_address
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running, session_of


@pytest.fixture
async def api(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg = make_config(
        tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url}],
        blacklist={"allowlist": ["198.19.0.0/16"]},
    )
    async with running(cfg) as (app, events):
        host, port = bound_address(app.api)
        async with aiohttp.ClientSession(
            base_url=f"http://{host}:{port}", headers={"Authorization": "Bearer test-token"}
        ) as http:
            yield app, events, http


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdC10b2tlbg==", "Bearer "])
async def test_every_endpoint_needs_the_token(api, header):
    app, _, http = api
    headers = {"Authorization": header} if header else {}
    for method, path in [("GET", "/api/v1/sessions"), ("POST", "/api/v1/switch"),
                         ("GET", "/api/v1/blacklist"), ("DELETE", "/api/v1/blacklist/1.2.3.4"),
                         ("GET", "/api/v1/nothing-here")]:
        async with aiohttp.ClientSession() as anon:
            url = f"{http._base_url}{path}"
            async with anon.request(method, url, headers=headers) as resp:
                assert resp.status == 401, (method, path)


async def test_switch_by_session_and_by_client(api):
    app, events, http = api
    reader, writer = await connect(app)
    writer.write(b"a")
    assert await reader.readexactly(3) == b"M:a"
    sid = await session_of(app, writer)
    async with http.get("/api/v1/sessions") as resp:
        listed = (await resp.json())["sessions"]
    assert [s["session_id"] for s in listed] == [sid]
    async with http.post(f"/api/v1/sessions/{sid}/switch", json={"reason": "why not"}) as resp:
        assert resp.status == 200 and (await resp.json()) == {"switched": [sid]}
    writer.write(b"b")
    assert await reader.readexactly(3) == b"H:b"
    switch = await events.wait_for("switch")
    assert switch["reason"] == "why not" and switch["by"] == "operator"
    async with http.post("/api/v1/switch", json={"client": "127.0.0.1"}) as resp:
        assert (await resp.json())["switched"] == [sid]  # already on the honeypot
    writer.close()


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("POST", "/api/v1/switch", {"client": "999.1.1.1"}, 400),
        ("POST", "/api/v1/switch", ["not", "an", "object"], 400),
        ("POST", "/api/v1/sessions/nope/switch", {}, 404),
        ("POST", "/api/v1/blacklist", {"ip": "198.18.0.1", "ttl": -5}, 400),
        ("POST", "/api/v1/blacklist", {"ip": "198.18.0.1", "ttl": True}, 400),
        ("POST", "/api/v1/blacklist", {"ip": "198.18.0.1", "reason": "x" * 5000}, 400),
        ("POST", "/api/v1/blacklist", {"ip": "198.19.4.4"}, 409),  # allowlisted
        ("DELETE", "/api/v1/blacklist/198.18.9.9", None, 404),
        ("GET", "/api/v1/events?limit=abc", None, 400),
    ],
)
async def test_bad_requests_get_clear_errors(api, method, path, body, status):
    _, _, http = api
    async with http.request(method, path, json=body) as resp:
        assert resp.status == status
        assert "error" in await resp.json()


async def test_oversized_body_is_refused(api):
    _, _, http = api
    async with http.post("/api/v1/blacklist", data=b"{" + b" " * (200 << 10) + b"}",
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413


async def test_blacklist_round_trip_and_events(api):
    app, events, http = api
    async with http.post("/api/v1/blacklist", json={"ip": "198.18.0.5", "ttl": 30, "reason": "scan"}) as resp:
        assert resp.status == 200
    async with http.get("/api/v1/blacklist") as resp:
        entries = (await resp.json())["blacklist"]
    assert [e["ip"] for e in entries] == ["198.18.0.5"]
    assert entries[0]["expires"] - entries[0]["added"] == pytest.approx(30, abs=1)
    async with http.delete("/api/v1/blacklist/198.18.0.5") as resp:
        assert resp.status == 200
    await events.wait_for("blacklist_remove", ip="198.18.0.5")
    app.store.flush(5)
    async with http.get("/api/v1/events?event_type=blacklist_add") as resp:
        stored = (await resp.json())["events"]
    assert stored and stored[-1]["ip"] == "198.18.0.5"


def test_the_readme_lists_every_operation_as_declared():
    from pathlib import Path

    from honeyswitch.api import views
    from honeyswitch.api.operations import OPERATIONS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {line for line in readme.splitlines() if line.startswith("| GET |") or line.startswith("| POST |")
            or line.startswith("| DELETE |")}
    declared = {f"| {op.method} | `{op.path}` | {op.doc} |" for op in OPERATIONS.values() if op.path}
    served_elsewhere = {"| GET | `/api/v1/stream` | live events as JSON lines |",
                        "| GET | `/metrics` | Prometheus metrics |",
                        *(f"| GET | `{path}` | {doc} |" for path, doc in views.DOCS.items())}
    assert rows == declared | served_elsewhere
