"""The dashboard's endpoints: transcript JSON and pcap of a real switched session,
alerts per minute."""
from __future__ import annotations

import asyncio
import struct

import aiohttp
import pytest

from honeyswitch.api.server import bound_address
from honeyswitch.record.transcripts import read_transcript, to_pcap
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running, session_of

HOSTILE = b"<script>alert(1)</script>\x1b[2J\x1b]0;owned\x07\xff\xfe\r\n"


@pytest.fixture
async def api(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url,
                                  "rules": ["default"], "protocol": "http"}])
    async with running(cfg) as (app, events):
        host, port = bound_address(app.api)
        async with aiohttp.ClientSession(base_url=f"http://{host}:{port}",
                                         headers={"Authorization": "Bearer test-token"}) as http:
            yield app, events, http


async def _switched_session(app, events, http) -> str:
    reader, writer = await connect(app)
    writer.write(HOSTILE)
    assert (await asyncio.wait_for(reader.readexactly(2 + len(HOSTILE)), 5)).startswith(b"M:")
    sid = await session_of(app, writer)
    async with http.post(f"/api/v1/sessions/{sid}/switch", json={"reason": "<b>x</b>"}) as resp:
        assert resp.status == 200
    await events.wait_for("switch_done", session_id=sid)
    writer.write(b"after\n")
    assert await asyncio.wait_for(reader.readexactly(8), 5) == b"H:after\n"
    writer.close()
    await events.wait_for("session_end", session_id=sid)
    app.transcripts.flush(5)
    return sid


async def test_transcript_json_in_order_with_text_and_hex(api):
    app, events, http = api
    sid = await _switched_session(app, events, http)
    async with http.get(f"/api/v1/sessions/{sid}/transcript") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["header"]["session_id"] == sid and not body["truncated"]
    kinds = [r.get("mark") or r["stream"] for r in body["records"]]
    switch = kinds.index("switch")
    # The honeypot's copy of the request may have been batched: its answer comes before
    # the switch mark, or after it (the switch sent the copy and waited for the answer).
    before = kinds[:switch]
    assert before in (["client", "main", "honeypot"], ["client", "honeypot", "main"], ["client", "main"])
    assert "honeypot" in kinds
    assert "switch_done" in kinds[switch:] and kinds[-1] == "end"
    first = body["records"][0]
    assert bytes.fromhex(first["hex"]) == HOSTILE and first["offset"] == 0
    assert first["text"].isascii() and all(c.isprintable() for c in first["text"])
    assert "\\x1b[2J" in first["text"] and "\\xff\\xfe" in first["text"]
    after = [r for r in body["records"][switch:] if r.get("stream") == "honeypot"]
    assert bytes.fromhex(after[-1]["hex"]).endswith(b"H:after\n")
    assert body["bytes"]["client"] == len(HOSTILE) + len(b"after\n")


async def test_pcap_download_is_the_transcript_as_pcap(api, tmp_path):
    app, events, http = api
    sid = await _switched_session(app, events, http)
    async with http.get(f"/api/v1/sessions/{sid}/pcap") as resp:
        assert resp.status == 200 and resp.content_type == "application/vnd.tcpdump.pcap"
        assert f'filename="{sid}.pcap"' in resp.headers["Content-Disposition"]
        data = await resp.read()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    path = app.config.transcripts_dir / f"{sid}.jsonl"
    assert data == to_pcap(read_transcript(path), None, tmp_path / "cli.pcap").read_bytes()


@pytest.mark.parametrize("sid, status", [("nosuchsession", 404), ("..%2F..%2Fetc%2Fpasswd", 400),
                                         ("a%00b", 400)])
async def test_bad_or_unknown_ids(api, sid, status):
    _, _, http = api
    for what in ("transcript", "pcap"):
        async with http.get(f"/api/v1/sessions/{sid}/{what}") as resp:
            assert resp.status == status and "error" in await resp.json()


async def test_new_endpoints_need_the_token(api):
    app, _, http = api
    async with aiohttp.ClientSession() as anon:
        for path in ("/api/v1/sessions/x/transcript", "/api/v1/sessions/x/pcap", "/api/v1/alerts/per-minute"):
            async with anon.get(f"{http._base_url}{path}") as resp:
                assert resp.status == 401, path


async def test_alerts_per_minute(api):
    app, events, http = api
    reader, writer = await connect(app)
    writer.write(b"GET /../../etc/passwd HTTP/1.0\r\n\r\n")
    await asyncio.wait_for(reader.read(100), 5)
    await events.wait_for("alert")
    writer.close()
    app.store.flush(5)
    alerts = len(events.of_type("alert"))
    async with http.get("/api/v1/alerts/per-minute?minutes=5") as resp:
        minutes = (await resp.json())["minutes"]
    assert len(minutes) == 5 and [m["t"] for m in minutes] == sorted(m["t"] for m in minutes)
    assert sum(m["alerts"] for m in minutes) == alerts  # in the last minute or two
    async with http.get("/api/v1/alerts/per-minute?minutes=x") as resp:
        assert resp.status == 400
