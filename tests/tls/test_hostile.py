"""Hostile TLS clients: garbage, truncated records, stalling, control bytes in the SNI,
h2-only ALPN, a thousand half-open handshakes.  Each is counted and recorded, no other
session is touched, memory stays bounded."""
from __future__ import annotations

import asyncio
import contextlib
import resource
from typing import Any

from tlshelp import RawTlsClient, client_ctx, tls_table

from honeyswitch.testing import servers
from honeyswitch.testing.clienthello import (
    client_hello,
    ext_alpn,
    ext_groups,
    ext_sni,
    ext_versions,
)
from honeyswitch.testing.harness import address, make_config, running


def service(pki: dict[str, Any], main: Any, honeypot: Any, **tls: Any) -> dict[str, Any]:
    return {"name": "web", "main": main.url, "honeypot": honeypot.url, "tls": tls_table(pki["web"], **tls)}


async def raw(app: Any, data: bytes, *, close: bool = True) -> bytes:
    """Send ``data`` on a plain TCP connection and read what comes back until closed."""
    reader, writer = await asyncio.open_connection(*address(app))
    writer.write(data)
    if close:
        writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(-1), 5)
    except ConnectionResetError:
        return b"<reset>"
    finally:
        writer.close()


async def benign(app: Any, pki: dict[str, Any]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address(app)
    return await asyncio.open_connection(host, port, ssl=client_ctx(pki), server_hostname="www.example.test")


async def echo_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    return await asyncio.wait_for(reader.readexactly(len(data)), 5)


async def test_garbage_truncated_and_closed_clients(tmp_path, make_server, pki) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [service(pki, main, honeypot)])
    async with running(cfg) as (app, events):
        reader, writer = await benign(app, pki)  # a session that must not notice anything
        assert await echo_once(reader, writer, b"before\n") == b"before\n"
        assert await raw(app, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        hello = client_hello([0x1301], [ext_sni(b"www.example.test")])
        await raw(app, hello[:20])  # truncated record, then FIN
        await raw(app, b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00")  # a ServerHello from a client
        await raw(app, b"\x16\x03\x01\xff\xff" + b"A" * 100)  # record too long
        await asyncio.sleep(0.1)
        assert await echo_once(reader, writer, b"after\n") == b"after\n"
        writer.close()
        errors = events.of_type("tls_error")
        kinds = sorted(e["kind"] for e in errors)
        assert kinds == ["closed", "hello", "hello", "hello"], errors
        assert {e["src_ip"] for e in errors} == {"127.0.0.1"} and all(e["service"] == "web" for e in errors)
        assert app.tls_gate.count("web", "hello") == 3 and app.tls_gate.count("web", "closed") == 1
        assert app.tls_gate.count("web", "ok") == 1
        assert len(main.conns) == 1  # no backend was contacted for any of them
        assert not app.tls_gate.active


async def test_sni_with_control_bytes_is_escaped(tmp_path, make_server, pki) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [service(pki, main, honeypot)])
    async with running(cfg) as (app, events):
        # A well-formed hello OpenSSL refuses (no key share for TLS 1.3), SNI with escapes.
        evil = b"evil\r\n\x1b]0;owned\x07.test"
        await raw(app, client_hello([0x1301], [ext_sni(evil), ext_groups([0x1D]), ext_versions([0x0304])]))
        err = await events.wait_for("tls_error")
    assert err["kind"] == "handshake" and err["sni"] == "evil\\r\\n\\x1b]0;owned\\x07.test"
    assert err["ja4"].startswith("t13d0103") and err["ja3"].startswith("771,4865,")
    assert not any(c < " " for c in err["sni"] + err["reason"])


async def test_h2_only_client_gets_no_application_protocol(tmp_path, make_server, pki) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [service(pki, main, honeypot)])
    async with running(cfg) as (app, events):
        back = await raw(app, client_hello([0x1301], [ext_alpn([b"h2"])]), close=False)
        err = await events.wait_for("tls_error")
        # Both ALPN offers: http/1.1 is chosen.
        reader, writer = await benign(app, pki)
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() is None  # the client offered none
        writer.close()
        host, port = address(app)
        ctx = client_ctx(pki, alpn=["h2", "http/1.1"])
        _, w2 = await asyncio.open_connection(host, port, ssl=ctx, server_hostname="www.example.test")
        assert w2.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
        w2.close()
    assert back == b"\x15\x03\x03\x00\x02\x02\x78"  # fatal no_application_protocol, in the clear
    assert err["kind"] == "alpn" and "h2" in err["reason"]


async def test_stalling_client_times_out(tmp_path, make_server, pki) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [service(pki, main, honeypot, handshake_timeout=0.3)])
    async with running(cfg) as (app, events):
        hello = client_hello([0x1301], [ext_sni(b"slow.test")])
        reader, writer = await asyncio.open_connection(*address(app))
        writer.write(hello[:30])  # and then nothing
        err = await events.wait_for("tls_error", timeout=5)
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(-1), 5) == b""
        writer.close()
    assert err["kind"] == "timeout" and err["sni"] is None


async def test_a_thousand_half_open_handshakes(tmp_path, make_server, pki) -> None:
    """A flood of stalled handshakes: past max_handshakes they are reset at once, the
    rest time out; an established session goes on; no backend is contacted; memory
    stays bounded; afterwards new clients are served again."""
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [service(pki, main, honeypot, max_handshakes=200, handshake_timeout=1.0)])
    hello = client_hello([0x1301, 0xC02B], [ext_sni(b"flood.test"), ext_groups([0x1D])])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:  # both ends of 1000 connections live in this process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    async with running(cfg) as (app, events):
        reader, writer = await benign(app, pki)
        assert await echo_once(reader, writer, b"x" * 100) == b"x" * 100
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conns = []
        for _ in range(1000):
            r, w = await asyncio.open_connection(*address(app))
            w.write(hello[: len(hello) // 2])  # half a ClientHello, then silence
            conns.append((r, w))
        await asyncio.sleep(0.2)
        assert sum(app.tls_gate.active.values()) <= 200
        assert await echo_once(reader, writer, b"y" * 100) == b"y" * 100  # unaffected
        await asyncio.sleep(1.5)  # the admitted ones time out
        assert not app.tls_gate.active
        limit, timeouts = app.tls_gate.count("web", "limit"), app.tls_gate.count("web", "timeout")
        assert limit + timeouts == 1000 and timeouts <= 200 and limit >= 800
        assert len(main.conns) == 1 and len(honeypot.conns) == 1
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before  # KiB
        for _, w in conns:
            w.close()
        r2, w2 = await benign(app, pki)
        assert await echo_once(r2, w2, b"z") == b"z"
        w2.close()
        assert await echo_once(reader, writer, b"still\n") == b"still\n"
        writer.close()
        # At most 50 events a second per service: the flood cannot flood the log.
        assert len(events.of_type("tls_error")) <= 3 * 50
    assert grown < 64 * 1024, f"RSS grew by {grown} KiB"


def _garbage_after_handshake(host: str, port: int, ctx: Any) -> bytes:
    """A real handshake (our own SSLObject), one good request, then a forged record."""
    client = RawTlsClient(host, port, ctx)
    sock = client.sock
    client.write(b"ping\n", b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # then application data, bad MAC
    got = b""
    try:
        while data := sock.recv(65536):
            got += data
    except ConnectionResetError:
        pass
    sock.close()
    return got


async def test_broken_record_after_the_handshake(tmp_path, make_server, pki) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [service(pki, main, honeypot)])
    async with running(cfg) as (app, events):
        reader, writer = await benign(app, pki)
        host, port = address(app)
        await asyncio.wait_for(asyncio.to_thread(_garbage_after_handshake, host, port, client_ctx(pki)), 10)
        end = await events.wait_for("session_end")
        assert await echo_once(reader, writer, b"fine\n") == b"fine\n"  # the other session
        writer.close()
    assert end["reason"].startswith("TLS: ") and "mac" in end["reason"], end
    assert app.tls_gate.count("web", "protocol") == 1


async def test_tls_counters_in_metrics(tmp_path, make_server, pki) -> None:
    import aiohttp

    from honeyswitch.api.server import bound_address

    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [service(pki, main, honeypot)])
    async with running(cfg) as (app, events):
        reader, writer = await benign(app, pki)
        assert await echo_once(reader, writer, b"x") == b"x"
        writer.close()
        await raw(app, b"garbage\r\n")
        host, port = bound_address(app.api)
        async with aiohttp.ClientSession() as http, http.get(
                f"http://{host}:{port}/metrics", headers={"Authorization": "Bearer test-token"}) as resp:
            text = await resp.text()
    assert 'honeyswitch_tls_handshakes_total{result="ok",service="web"} 1.0' in text
    assert 'honeyswitch_tls_handshakes_total{result="hello",service="web"} 1.0' in text
    assert 'honeyswitch_events_total{event_type="tls_error"} 1.0' in text
