"""TLS termination in the relay over real sockets: the client's TLS ends at honeyswitch,
main and the honeypot get plaintext (or re-encrypted ``tls://``), a switch keeps the
client's TLS connection going with the honeypot's bytes inside."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from typing import Any

from tlshelp import RawTlsClient, client_ctx, tls_table

from honeyswitch.testing import servers
from honeyswitch.testing.harness import address, make_config, running, session_of

MB = 1 << 20


async def tls_connect(app: Any, pki: dict[str, Any], *, sni: str = "www.example.test",
                      alpn: list[str] | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address(app)
    return await asyncio.open_connection(host, port, ssl=client_ctx(pki, alpn=alpn), server_hostname=sni,
                                         limit=1 << 22)


async def test_switch_mid_stream_keeps_the_clients_tls_session(tmp_path, make_server, pki) -> None:
    main = await make_server(servers.echo())
    honeypot = await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "web", "main": main.url, "honeypot": honeypot.url,
                                  "tls": tls_table(pki["web"])}])
    payload = servers.pattern(4 * MB, seed=3)
    async with running(cfg) as (app, events):
        reader, writer = await tls_connect(app, pki, alpn=["http/1.1"])
        sid = await session_of(app, writer)
        start = await events.wait_for("session_start")
        assert start["tls"]["sni"] == "www.example.test" and start["tls"]["alpn"] == "http/1.1"
        assert start["tls"]["version"] == "TLSv1.3" and len(start["tls"]["ja3_hash"]) == 32
        assert start["tls"]["ja4"].startswith("t13d")

        async def send() -> None:
            chunk = 64 << 10
            for i in range(0, len(payload), chunk):
                if i == len(payload) // 2:
                    await asyncio.sleep(0.05)
                    assert app.switch_session(sid, "operator", "test")
                writer.write(payload[i:i + chunk])
                await writer.drain()

        # (uvloop's TLS client cannot half-close: read the echo back whole, then close.)
        _, received = await asyncio.wait_for(asyncio.gather(send(), reader.readexactly(len(payload))), 60)
        writer.close()
        await events.wait_for("switch_done")
        end = await events.wait_for("session_end")
        await asyncio.wait_for(main.conns[0].done.wait(), 5)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert main.conns[0].reset, "main must see the RST"
    assert honeypot.conns[0].sha256() == hashlib.sha256(payload).hexdigest()  # plaintext, every byte
    assert end["switched"] and end["bytes_from_client"] == len(payload)


async def test_tls_backends_are_verified_and_re_encrypted(tmp_path, make_server, pki) -> None:
    main = await tls_echo(pki["main"])
    honeypot = await tls_echo(pki["honeypot"])
    try:
        cfg = make_config(tmp_path, [{
            "name": "web", "main": f"tls://127.0.0.1:{port_of(main)}", "honeypot": f"tls://127.0.0.1:{port_of(honeypot)}",
            "main_tls": {"ca": str(pki["ca"].ca_path), "sni": "main.internal"},
            "honeypot_tls": {"ca": str(pki["ca"].ca_path)},
            "tls": tls_table(pki["web"])}])
        payload = servers.pattern(1 * MB, seed=5)
        async with running(cfg) as (app, events):
            reader, writer = await tls_connect(app, pki)
            writer.write(payload)
            received = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
            writer.close()
            await events.wait_for("session_end")
            assert not events.of_type("backend_failure") and not events.of_type("honeypot_dropped")
        assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    finally:
        main.close()
        honeypot.close()


async def test_tls_backend_with_a_foreign_certificate_fails_its_connect(tmp_path, pki) -> None:
    from honeyswitch.testing.certs import CertAuthority

    foreign = CertAuthority(tmp_path / "foreign", name="foreign CA").issue("main.internal", names=("127.0.0.1",))
    main = await tls_echo(foreign)
    try:
        cfg = make_config(tmp_path, [{"name": "web", "main": f"tls://127.0.0.1:{port_of(main)}",
                                      "honeypot": "tcp://127.0.0.1:9", "main_tls": {"ca": str(pki["ca"].ca_path)},
                                      "tls": tls_table(pki["web"])}])
        async with running(cfg) as (app, events):
            reader, writer = await tls_connect(app, pki)
            writer.write(b"hello")
            with contextlib.suppress(ConnectionResetError):  # main failed: the session is reset
                await asyncio.wait_for(reader.read(-1), 10)
            failure = await events.wait_for("backend_failure", end="main")
            writer.close()
        assert "certificate verify failed" in failure["reason"]
    finally:
        main.close()


async def tls_echo(cert: Any, client_ca: Any = None, tls12: bool = False) -> asyncio.Server:
    """A TLS echo server with its own certificate (a tls:// backend); with
    ``client_ca`` it requires a client certificate signed by that CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(str(client_ca))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
        except (ConnectionError, ssl.SSLError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


def _half_close_client(host: str, port: int, ctx: ssl.SSLContext, payload: bytes) -> bytes:
    """Send ``payload``, then close_notify (we send no more), then read until the
    server's close_notify: TLS's half-close, with an SSLObject of our own."""
    client = RawTlsClient(host, port, ctx)
    sock, inc, out, obj = client.sock, client.inc, client.out, client.obj
    client.write(payload)
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.unwrap()
    sock.sendall(out.read())
    got = b""
    while data := sock.recv(65536):
        inc.write(data)
        while True:
            try:
                chunk = obj.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                break
            if not chunk:
                break
            got += chunk
    sock.close()
    return got


async def test_client_half_close_with_close_notify(tmp_path, make_server, pki) -> None:
    """The client's close_notify is its EOF: passed on to both backends, whose replies
    still reach the client, then honeyswitch's close_notify and FIN."""
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "web", "main": main.url, "honeypot": honeypot.url,
                                  "tls": tls_table(pki["web"])}])
    payload = servers.pattern(300_000, seed=9)
    async with running(cfg) as (app, events):
        host, port = address(app)
        got = await asyncio.wait_for(asyncio.to_thread(_half_close_client, host, port, client_ctx(pki), payload), 20)
        end = await events.wait_for("session_end")
    assert got == payload and end["reason"] == "closed"
    assert main.conns[0].eof and honeypot.conns[0].eof


async def test_tls_backend_that_requires_a_client_certificate(tmp_path, make_server, pki) -> None:
    """With ``cert``/``key`` in ``main_tls`` honeyswitch shows its client certificate;
    without, main refuses it (TLS 1.2 here, where the refusal ends the handshake, so it
    is a failed connect: the session is reset, nothing reached main)."""
    main = await tls_echo(pki["main"], client_ca=pki["ca"].ca_path, tls12=True)
    honeypot = await make_server(servers.echo())
    client_cert = pki["ca"].issue("honeyswitch.internal", tag="-client")
    try:
        for with_cert in (True, False):
            main_tls: dict[str, Any] = {"ca": str(pki["ca"].ca_path), "sni": "main.internal"}
            if with_cert:
                main_tls.update(cert=str(client_cert.cert), key=str(client_cert.key))
            cfg = make_config(tmp_path / str(with_cert), [{
                "name": "web", "main": f"tls://127.0.0.1:{port_of(main)}", "honeypot": honeypot.url,
                "main_tls": main_tls, "tls": tls_table(pki["web"])}])
            async with running(cfg) as (app, events):
                reader, writer = await tls_connect(app, pki)
                writer.write(b"hello\n")
                got = b""
                with contextlib.suppress(ConnectionResetError, asyncio.IncompleteReadError):
                    got = await asyncio.wait_for(reader.readexactly(6), 5)
                writer.close()
                await events.wait_for("session_end")
                failures = events.of_type("backend_failure", end="main")
            if with_cert:
                assert got == b"hello\n" and not failures
            else:
                assert got == b"" and failures and failures[0]["reason"].startswith("TLS: "), failures
    finally:
        main.close()
