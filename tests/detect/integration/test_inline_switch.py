"""Inline detection over real sockets: the request that crosses the threshold never
reaches main; the honeypot answers it; scores add up per source."""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json

from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running

RULES = """
alert tcp any any -> any any (msg:"test: planted marker"; flow:to_server; content:"EVIL-MARKER"; \
metadata: honeyswitch_score 100; classtype:attempted-admin; sid:9990001; rev:1;)
alert tcp any any -> any any (msg:"test: suspicious word"; flow:to_server; content:"sneaky"; nocase; \
metadata: honeyswitch_score 40; sid:9990002; rev:1;)
"""


def _config(tmp_path, main, honeypot, source_switch=True, **service):
    rules = tmp_path / "test.rules"
    rules.write_text(RULES)
    return make_config(
        tmp_path,
        [{"name": "kv", "main": main.url, "honeypot": honeypot.url, "rules": [str(rules)], **service}],
        scoring={"blacklist_threshold": 150, "half_life": 600, "source_switch": source_switch},
    )


async def test_matching_request_goes_to_the_honeypot_only(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    async with running(_config(tmp_path, main, honeypot)) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"hello\n")
        assert await asyncio.wait_for(reader.readexactly(8), 5) == b"M:hello\n"
        # The marker is split across two writes (and so, likely, two segments).
        writer.write(b"GET EVIL-MAR")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"KER now\n")
        got = await asyncio.wait_for(reader.readuntil(b"KER now\n"), 5)
        writer.close()
        switch = await events.wait_for("switch")
        alert = await events.wait_for("alert", sid=9990001)
        await events.wait_for("session_end")
    # Bytes before the match went on (nothing was suspicious yet); the chunk that
    # completed the marker did not.
    assert bytes(main.conns[0].received) == b"hello\nGET EVIL-MAR"
    assert bytes(honeypot.conns[0].received) == b"hello\nGET EVIL-MARKER now\n"
    assert got.endswith(b"H:KER now\n")
    assert switch["by"] == "detector:signature" and alert["score"] == 100
    assert main.conns[0].reset


async def test_scores_add_up_per_session_and_blacklist_the_source(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    async with running(_config(tmp_path, main, honeypot, source_switch=False)) as (app, events):
        for _ in range(4):  # 40 a session: none switches; the source reaches 160 >= 150
            reader, writer = await connect(app)
            writer.write(b"a sneaky one\n")
            await asyncio.wait_for(reader.readline(), 5)
            writer.close()
        listed = await events.wait_for("blacklist_add")
        opened = events.of_type("incident_open")
        reader, writer = await connect(app)  # a new session from a listed source: DIRECT
        writer.write(b"x\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"H:x\n"
        writer.close()
    alerts = events.of_type("alert")
    assert [a["score"] for a in alerts] == [40, 40, 40, 40]
    # No detector switched a session; the blacklisting may catch the 4th still open.
    assert {s["by"] for s in events.of_type("switch")} <= {"blacklist"}
    assert listed["ip"] == "127.0.0.1" and listed["by"] == "scoring"
    assert len(opened) == 1  # one incident for the source, across its sessions


async def test_one_request_per_connection_is_switched_by_its_source_score(tmp_path, make_server):
    """A tool that opens a connection per request: each session scores 40, below the
    switch threshold (100), but the fourth request carries the source to 160, over the
    blacklist threshold (150): that request goes to the honeypot, never to main."""
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    async with running(_config(tmp_path, main, honeypot)) as (app, events):
        replies = []
        for i in range(4):
            reader, writer = await connect(app)
            writer.write(b"a sneaky one %d\n" % i)
            replies.append(await asyncio.wait_for(reader.readline(), 5))
            writer.close()
        switch = await events.wait_for("switch")
    assert replies == [b"M:a sneaky one %d\n" % i for i in range(3)] + [b"H:a sneaky one 3\n"]
    assert [bytes(c.received) for c in main.conns][:3] == [b"a sneaky one %d\n" % i for i in range(3)]
    assert all(b"one 3" not in bytes(c.received) for c in main.conns)
    assert switch["score"] == 40 and switch["reason"].startswith("source score 160:")


async def test_an_allowlisted_source_is_never_switched_by_its_source_score(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg = _config(tmp_path, main, honeypot)
    cfg = dataclasses.replace(cfg, blacklist=dataclasses.replace(
        cfg.blacklist, allowlist=(ipaddress.ip_network("127.0.0.0/8"),)))
    async with running(cfg) as (app, events):
        for i in range(5):  # 200 > 150, but the allowlist is never blacklisted
            reader, writer = await connect(app)
            writer.write(b"a sneaky one %d\n" % i)
            assert await asyncio.wait_for(reader.readline(), 5) == b"M:a sneaky one %d\n" % i
            writer.close()
    assert not events.of_type("switch") and not events.of_type("blacklist_add")


async def test_blacklisting_by_score_switches_the_sources_open_sessions(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    async with running(_config(tmp_path, main, honeypot, source_switch=False)) as (app, events):
        idle = await connect(app)  # a benign-looking session of the source, left open
        idle[1].write(b"hi\n")
        assert await asyncio.wait_for(idle[0].readline(), 5) == b"M:hi\n"
        for _ in range(4):  # 40 each: the source reaches 160 >= 150 and is blacklisted
            reader, writer = await connect(app)
            writer.write(b"a sneaky one\n")
            await asyncio.wait_for(reader.readline(), 5)
            writer.close()
        await events.wait_for("blacklist_add")
        switch = await events.wait_for("switch", by="blacklist")
        idle[1].write(b"later\n")
        assert await asyncio.wait_for(idle[0].readline(), 5) == b"H:later\n"
        idle[1].close()
    assert switch["reason"].startswith("source score 160")


async def test_dry_run_records_would_switch_and_keeps_main(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    async with running(_config(tmp_path, main, honeypot, dry_run=True)) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"EVIL-MARKER\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"M:EVIL-MARKER\n"
        writer.close()
        would = await events.wait_for("would_switch")
    assert would["by"] == "detector:signature"
    assert not events.of_type("switch")


async def test_incidents_are_stored_and_served_by_the_api(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    async with running(_config(tmp_path, main, honeypot)) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"sneaky\n")
        await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        await events.wait_for("incident_open")
        app.writer.flush(5)
        stored = app.store.incidents()
    assert len(stored) == 1 and stored[0]["src_ip"] == "127.0.0.1" and stored[0]["score"] == 40
    assert stored[0]["detectors"] == ["signature"]
    json.dumps(stored)  # serialisable as the API returns it
