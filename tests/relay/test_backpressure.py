"""Backpressure: a slow reader on either side pauses the other; memory stays bounded."""
from __future__ import annotations

import asyncio
import hashlib

from honeyswitch.core.types import End
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running, session_of

MB = 1 << 20


def _buffered(app, sid: str) -> dict[str, int]:
    runner = app.registry.get(sid)
    out = {}
    for end, conn in runner.conns.items():
        t = getattr(conn, "transport", None)
        out[end.value] = t.get_write_buffer_size() if t is not None else 0
    return out


async def test_slow_client_pauses_main_and_buffers_stay_bounded(tmp_path, make_server):
    big = servers.pattern(48 * MB, seed=11)

    async def firehose(rec, reader, writer):
        await reader.readline()
        for i in range(0, len(big), 1 << 20):
            writer.write(big[i : i + (1 << 20)])
            await writer.drain()
        writer.write_eof()

    main = await make_server(firehose)
    honeypot = await make_server(firehose)
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url,
                                  "honeypot_buffer": "8MiB"}])
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        sid = await session_of(app, writer)
        writer.write(b"go\n")
        got = bytearray()
        peak = 0
        while len(got) < len(big):
            chunk = await asyncio.wait_for(reader.read(64 << 10), 10)
            if not chunk:
                break
            got += chunk
            if len(got) % (4 * MB) < (64 << 10):
                await asyncio.sleep(0.05)  # a slow client
                if app.registry.get(sid) is not None:
                    peak = max(peak, _buffered(app, sid).get(End.CLIENT.value, 0))
        writer.close()
        await events.wait_for("session_end")
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()
    # The relay stops reading main while the client's buffer is over its high-water
    # mark, so what it holds for the client stays near one read, not the 48 MiB.
    assert peak <= 2 * MB, peak


async def test_slow_main_pauses_the_client(tmp_path, make_server):
    async def slow_reader(rec, reader, writer):
        while True:
            data = await reader.read(16 << 10)
            if not data:
                rec.eof = True
                return
            rec.received += data
            await asyncio.sleep(0.002)

    main = await make_server(slow_reader)
    honeypot = await make_server(servers.sink())
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url}])
    payload = servers.pattern(24 * MB, seed=12)
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        sid = await session_of(app, writer)
        peak = 0
        for i in range(0, len(payload), 256 << 10):
            writer.write(payload[i : i + (256 << 10)])
            await writer.drain()
            if app.registry.get(sid) is not None:
                peak = max(peak, _buffered(app, sid).get(End.MAIN.value, 0))
        writer.write_eof()
        await asyncio.wait_for(main.conns[0].done.wait(), 60)
        writer.close()
    assert main.conns[0].sha256() == hashlib.sha256(payload).hexdigest()
    assert peak <= 2 * MB, peak
