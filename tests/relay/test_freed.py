"""Ended sessions are freed by reference counting, not left for the cyclic collector:
the daemon collects little garbage at high connection rates (and an idle one none)."""
from __future__ import annotations

import asyncio
import gc

from honeyswitch.core.session import Session
from honeyswitch.relay.conns import StreamConn
from honeyswitch.relay.runner import SessionRunner
from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running

SESSIONS = 20


def alive() -> dict[str, int]:
    counts = {"runner": 0, "session": 0, "conn": 0}
    for obj in gc.get_objects():
        if isinstance(obj, SessionRunner):
            counts["runner"] += 1
        elif isinstance(obj, Session):
            counts["session"] += 1
        elif isinstance(obj, StreamConn):
            counts["conn"] += 1
    return counts


async def test_ended_sessions_leave_no_cycles(tmp_path, make_server):
    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "echo", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        gc.collect()
        gc.disable()  # garbage in a cycle now stays where gc.get_objects() sees it
        try:
            for i in range(SESSIONS):
                reader, writer = await connect(app)
                msg = b"ping %d\n" % i
                writer.write(msg)
                assert await asyncio.wait_for(reader.readexactly(len(msg)), 5) == msg
                writer.write_eof()
                assert await asyncio.wait_for(reader.read(), 5) == b""
                writer.close()
            while len(events.of_type("session_end")) < SESSIONS:
                await events.wait_for("session_end")
                await asyncio.sleep(0.01)
            for _ in range(20):  # transports let go of their protocols a few loop turns later
                if not any(alive().values()):
                    break
                await asyncio.sleep(0.02)
            assert alive() == {"runner": 0, "session": 0, "conn": 0}
        finally:
            gc.enable()
