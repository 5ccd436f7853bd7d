"""Switching live sessions over real sockets: seamless, byte-exact, main reset."""
from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running, session_of

MB = 1 << 20


async def test_bytes_switch_mid_stream_is_seamless_and_main_gets_rst(tmp_path, make_server):
    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "echo", "main": main.url, "honeypot": honeypot.url}])
    payload = servers.pattern(6 * MB, seed=7)
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        sid = await session_of(app, writer)
        main_before = 0

        async def send() -> None:
            nonlocal main_before
            chunk = 32 << 10
            for i in range(0, len(payload), chunk):
                if i == len(payload) // 2:
                    await asyncio.sleep(0.05)  # let main catch up a little, then switch
                    main_before = len(main.conns[0].received)
                    assert app.switch_session(sid, "operator", "test")
                writer.write(payload[i : i + chunk])
                await writer.drain()
            writer.write_eof()

        _, received = await asyncio.wait_for(asyncio.gather(send(), reader.read(-1)), 30)
        writer.close()
        switch = await events.wait_for("switch")
        await events.wait_for("session_end")
        await asyncio.wait_for(main.conns[0].done.wait(), 5)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert main.conns[0].reset, "main must see ECONNRESET"
    # Main never got a byte after the switch; the honeypot got every byte.
    assert len(main.conns[0].received) <= switch["main_bytes_to_client"] + 4 * MB
    assert payload.startswith(bytes(main.conns[0].received))
    assert len(main.conns[0].received) < len(payload)
    assert main_before <= len(main.conns[0].received)
    assert honeypot.conns[0].sha256() == hashlib.sha256(payload).hexdigest()
    assert switch["align"] == "bytes" and switch["by"] == "operator"


def _numbered(tag: bytes, delay: float = 0.0):
    """Line server answering 'REQ n' with a multi-part reply that names the server."""
    counter = {"n": 0}

    def reply(line: bytes) -> bytes:
        counter["n"] += 1
        return b"%s reply %d to %s: " % (tag, counter["n"], line.strip()) + b"x" * 300 + b"\n"

    return servers.lines(reply, greeting=tag + b" ready\n", delay=delay)


@pytest.mark.parametrize("lag", [0.05, 0.4])  # under and over quiet_time
async def test_quiet_switch_gives_whole_replies_from_a_lagging_different_honeypot(
    tmp_path, make_server, lag
):
    main = await make_server(_numbered(b"MAIN"))
    honeypot = await make_server(_numbered(b"HONEYPOT", delay=lag))
    cfg = make_config(
        tmp_path,
        [{"name": "lines", "main": main.url, "honeypot": honeypot.url, "align": "quiet",
          "quiet_time": 0.15, "quiet_max": 5.0}],
    )
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        sid = await session_of(app, writer)
        lines = [await asyncio.wait_for(reader.readline(), 5)]
        for i in range(5):
            writer.write(b"REQ %d\n" % i)
            await writer.drain()
            lines.append(await asyncio.wait_for(reader.readline(), 5))
        # A request whose reply is still in flight at main when the switch comes.
        writer.write(b"REQ 5\n")
        await writer.drain()
        while b"REQ 5" not in main.conns[0].received:
            await asyncio.sleep(0.001)
        assert app.switch_session(sid, "operator", "test")
        lines.append(await asyncio.wait_for(reader.readline(), 5))
        for i in range(6, 10):
            writer.write(b"REQ %d\n" % i)
            await writer.drain()
            lines.append(await asyncio.wait_for(reader.readline(), 5))
        writer.close()
        done = await events.wait_for("switch_done")
        await asyncio.wait_for(main.conns[0].done.wait(), 5)
    assert lines[0] == b"MAIN ready\n"
    pattern = re.compile(rb"^(MAIN|HONEYPOT) reply \d+ to REQ (\d+): x{300}\n$")
    tags = []
    for i, line in enumerate(lines[1:]):
        m = pattern.match(line)
        assert m, f"torn or mixed reply: {line[:80]!r}"
        assert int(m.group(2)) == i, "replies out of order or lost"
        tags.append(m.group(1))
    assert tags[:6] == [b"MAIN"] * 6  # REQ 5's reply was drained from main, whole
    assert tags[6:] == [b"HONEYPOT"] * 4
    assert main.conns[0].reset
    assert b"REQ 6" not in main.conns[0].received
    assert done["main_bytes_to_client"] > 0


async def test_honeypot_failures_never_disturb_a_benign_client(tmp_path, make_server):
    main = await make_server(servers.echo())
    refused = await make_server(servers.sink())
    refused_url = refused.url
    await refused.close()
    crashing = await make_server(servers.crash_after(10_000))
    stalled = await make_server(servers.stall())
    cfg = make_config(
        tmp_path,
        [
            {"name": "refused", "main": main.url, "honeypot": refused_url},
            {"name": "crash", "main": main.url, "honeypot": crashing.url},
            {"name": "stall", "main": main.url, "honeypot": stalled.url, "honeypot_buffer": "256KiB"},
        ],
    )
    small = servers.pattern(3 * MB, seed=3)
    # Loopback socket buffers alone hold several MB: the stalled honeypot needs more
    # than that before honeyswitch's own buffer limit is what fills up.
    big = servers.pattern(32 * MB, seed=4)

    async def run_client(app, service: str) -> bytes:
        payload = big if service == "stall" else small
        reader, writer = await connect(app, service)

        async def send() -> None:
            for i in range(0, len(payload), 16 << 10):
                writer.write(payload[i : i + (16 << 10)])
                await writer.drain()
            writer.write_eof()

        _, got = await asyncio.wait_for(asyncio.gather(send(), reader.read(-1)), 30)
        writer.close()
        return got

    async with running(cfg) as (app, events):
        for service in ("refused", "crash", "stall"):
            got = await run_client(app, service)
            expected = big if service == "stall" else small
            assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest(), service
        failures = {e["service"] for e in events.of_type("backend_failure", end="honeypot")}
        dropped = {e["service"] for e in events.of_type("honeypot_dropped")}
        ends = await asyncio.gather(*(events.wait_for("session_end", service=s) for s in ("refused", "crash", "stall")))
    assert {"refused", "crash"} <= failures
    assert {"refused", "crash", "stall"} <= dropped
    assert [e["bytes_main_to_client"] for e in ends] == [len(small), len(small), len(big)]


async def test_switch_without_honeypot_applies_the_policy(tmp_path, make_server):
    main = await make_server(servers.echo())
    dead = await make_server(servers.sink())
    url = dead.url
    await dead.close()
    cfg = make_config(
        tmp_path,
        [{"name": "reset", "main": main.url, "honeypot": url, "no_honeypot": "reset"},
         {"name": "pass", "main": main.url, "honeypot": url, "no_honeypot": "pass"}],
    )
    async with running(cfg) as (app, events):
        results = {}
        for service in ("reset", "pass"):
            reader, writer = await connect(app, service)
            writer.write(b"ping\n")
            assert await asyncio.wait_for(reader.readexactly(5), 5) == b"ping\n"
            sid = await session_of(app, writer)
            await events.wait_for("honeypot_dropped", service=service)
            app.switch_session(sid, "operator", "test")
            writer.write(b"more\n")
            try:
                results[service] = await asyncio.wait_for(reader.read(5), 5)
            except ConnectionResetError:
                results[service] = b"<reset>"
            writer.close()
    assert results["reset"] in (b"", b"<reset>")
    assert results["pass"] == b"more\n"
    assert {e["policy"] for e in events.of_type("switch_unavailable")} == {"reset", "pass"}


async def test_blacklisted_source_goes_direct_and_main_is_never_contacted(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        app.blacklist.add("127.0.0.1", reason="test", by="test")
        reader, writer = await connect(app)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(7), 5) == b"H:hello"
        writer.close()
        start = await events.wait_for("session_start")
        await events.wait_for("session_end")
    assert start["state"] == "direct"
    assert main.conns == []


async def test_switched_source_is_blacklisted_and_comes_back_direct(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"a")
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"M:a"
        assert app.switch_client("127.0.0.1", "operator", "test")
        await events.wait_for("blacklist_add")
        writer.close()
        reader, writer = await connect(app)
        writer.write(b"b")
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"H:b"
        writer.close()
    assert len(main.conns) == 1
