"""A honeypot that lags behind main still gets to read the last commands of a session:
honeyswitch half-closes it and drops its late replies instead of closing with them
unread (which makes the kernel reset it, and the honeypot lose what it had not read)."""
from __future__ import annotations

import asyncio

from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running


async def test_lagging_honeypot_reads_the_sessions_last_commands(tmp_path, make_server) -> None:
    def reply(line: bytes) -> bytes:
        return b"ok " + line

    main = await make_server(servers.lines(reply))
    honeypot = await make_server(servers.lines(reply, delay=0.05))  # 50 ms per command
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url, "align": "quiet"}])
    commands = b"".join(b"cmd %d\n" % i for i in range(8))
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        writer.write(commands)
        await asyncio.wait_for(reader.readexactly(len(commands) + 8 * 3), 5)  # main's replies
        writer.close()  # the client is done long before the honeypot is
        await events.wait_for("session_end")
        await asyncio.wait_for(honeypot.conns[0].done.wait(), 5)
    assert honeypot.conns[0].received == commands and not honeypot.conns[0].reset
    assert honeypot.conns[0].eof  # a FIN, after every command
