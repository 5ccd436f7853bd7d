"""MIRROR over real sockets: byte-exact both ways, session isolation, half-close."""
from __future__ import annotations

import asyncio
import hashlib
import socket

from honeyswitch.testing import servers
from honeyswitch.testing.harness import connect, make_config, running

MB = 1 << 20


async def pump(writer: asyncio.StreamWriter, data: bytes, chunk: int = 64 << 10) -> None:
    for i in range(0, len(data), chunk):
        writer.write(data[i : i + chunk])
        await writer.drain()
    writer.write_eof()


async def test_megabytes_each_way_are_byte_exact(tmp_path, make_server):
    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "echo", "main": main.url, "honeypot": honeypot.url}])
    payload = servers.pattern(8 * MB, seed=1)
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        _, received = await asyncio.wait_for(asyncio.gather(pump(writer, payload), reader.read(-1)), 30)
        writer.close()
        end = await events.wait_for("session_end")
    digest = hashlib.sha256(payload).hexdigest()
    assert hashlib.sha256(received).hexdigest() == digest
    assert main.conns[0].sha256() == digest
    assert honeypot.conns[0].sha256() == digest
    assert end["bytes_from_client"] == len(payload) == end["bytes_main_to_client"]
    assert end["bytes_from_honeypot"] == len(payload)
    assert end["switched"] is False


async def test_200_concurrent_sessions_never_mix(tmp_path, make_server):
    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "echo", "main": main.url, "honeypot": honeypot.url}])

    async def one(i: int, app) -> tuple[str, str]:
        data = servers.pattern(20_000 + i * 97, seed=1000 + i)
        reader, writer = await connect(app)
        _, got = await asyncio.wait_for(asyncio.gather(pump(writer, data, 4096), reader.read(-1)), 30)
        writer.close()
        return hashlib.sha256(data).hexdigest(), hashlib.sha256(got).hexdigest()

    async with running(cfg) as (app, events):
        results = await asyncio.gather(*(one(i, app) for i in range(200)))
    assert all(sent == got for sent, got in results)
    assert len({sent for sent, _ in results}) == 200
    # Each backend connection saw exactly one client's bytes.
    sent_digests = {sent for sent, _ in results}
    assert {c.sha256() for c in main.conns} == sent_digests
    assert {c.sha256() for c in honeypot.conns} == sent_digests


async def test_half_close_propagates_like_a_direct_connection(tmp_path, make_server):
    async def answer_after_eof(rec, reader, writer):
        await servers.read_all(rec, reader)  # until the client's EOF
        writer.write(b"summary: %d bytes\n" % len(rec.received))
        await writer.drain()
        writer.write_eof()

    main = await make_server(answer_after_eof)
    honeypot = await make_server(answer_after_eof)
    cfg = make_config(tmp_path, [{"name": "s", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"x" * 1000)
        writer.write_eof()
        reply = await asyncio.wait_for(reader.read(-1), 5)
        writer.close()
        await events.wait_for("session_end")
    assert reply == b"summary: 1000 bytes\n"
    assert main.conns[0].eof and honeypot.conns[0].eof


async def test_ipv6_listener(tmp_path, make_server):
    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(
        tmp_path, [{"name": "v6", "listen": "[::1]:0", "main": main.url, "honeypot": honeypot.url}]
    )
    async with running(cfg) as (app, events):
        host, port = app.listening("v6")[0]
        assert host == "::1"
        reader, writer = await asyncio.open_connection("::1", port)
        writer.write(b"hello over v6\n")
        assert await asyncio.wait_for(reader.readexactly(14), 5) == b"hello over v6\n"
        writer.close()
        start = await events.wait_for("session_start")
    assert start["src_ip"] == "::1"


async def test_main_down_resets_the_client(tmp_path, make_server):
    honeypot = await make_server(servers.echo())
    dead = await make_server(servers.sink())
    url = dead.url
    await dead.close()
    cfg = make_config(tmp_path, [{"name": "s", "main": url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        try:
            data = await asyncio.wait_for(reader.read(100), 5)
        except ConnectionResetError:
            data = b""
        assert data == b""
        failure = await events.wait_for("backend_failure")
    assert failure["end"] == "main"


async def test_relayed_tcp_connections_have_nodelay(tmp_path, make_server):
    """The relay sets no socket options of its own per connection: it relies on uvloop
    and asyncio setting TCP_NODELAY on every TCP transport (no Nagle delay on small
    requests).  This checks they still do, on the client's and both backends' legs."""
    import socket

    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "echo", "main": main.url, "honeypot": honeypot.url}])
    async with running(cfg) as (app, events):
        reader, writer = await connect(app)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        (runner,) = list(app.registry)
        for conn in runner.conns.values():
            sock = conn.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        await events.wait_for("session_end")


async def test_a_session_over_before_the_honeypot_connects_still_reaches_it(tmp_path, make_server):
    """A honeypot whose accept queue is full answers a SYN only on the client's retry,
    about a second later: by then the whole exchange with main is over.  The honeypot
    must still get every byte main got, or its state would differ from main's."""
    main = await make_server(servers.echo())
    hp = socket.socket()
    hp.bind(("127.0.0.1", 0))
    hp.listen(0)
    filler = socket.create_connection(hp.getsockname())  # fills the accept queue
    port = hp.getsockname()[1]
    cfg = make_config(tmp_path, [{"name": "kv", "main": main.url, "honeypot": f"tcp://127.0.0.1:{port}"}])
    payload = servers.pattern(50_000, seed=7)
    try:
        async with running(cfg) as (app, events):
            reader, writer = await connect(app)
            await pump(writer, payload, 4096)
            writer.write_eof()
            assert await asyncio.wait_for(reader.read(-1), 5) == payload  # main's echo, then EOF
            writer.close()
            assert not events.of_type("session_end")  # still owed to the honeypot
            hp.setblocking(False)
            loop = asyncio.get_running_loop()
            first, _ = await loop.sock_accept(hp)  # the filler
            first.close()
            conn, _ = await asyncio.wait_for(loop.sock_accept(hp), 10)  # the honeypot leg
            got = bytearray()
            while chunk := await asyncio.wait_for(loop.sock_recv(conn, 65536), 10):
                got += chunk
            conn.close()
            end = await events.wait_for("session_end", timeout=10)
    finally:
        filler.close()
        hp.close()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert end["reason"] == "closed" and end["bytes_from_client"] == len(payload)
