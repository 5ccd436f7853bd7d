"""STARTTLS through honeyswitch with real clients (smtplib, imaplib, poplib, swaks):
honeyswitch answers the upgrade, main and the honeypot get the same plaintext before
and after it, and never the upgrade command."""
from __future__ import annotations

import asyncio
import contextlib
import imaplib
import poplib
import re
import shutil
import smtplib
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from tlshelp import client_ctx, tls_table

from honeyswitch.testing import mailservers
from honeyswitch.testing.harness import address, make_config, running

MESSAGE = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello over STARTTLS\r\n"


def mail_service(pki: dict[str, Any], name: str, main: Any, honeypot: Any) -> dict[str, Any]:
    return {"name": name, "main": main.url, "honeypot": honeypot.url, "protocol": name,
            "tls": tls_table(pki["web"], starttls=name)}


async def _run(tmp_path: Any, make_server: Any, pki: dict[str, Any], proto: str, client: Any) -> tuple[Any, Any, Any]:
    handler = getattr(mailservers, proto)
    main, honeypot = await make_server(handler()), await make_server(handler())
    cfg = make_config(tmp_path, [mail_service(pki, proto, main, honeypot)])
    async with running(cfg) as (app, events):
        host, port = address(app)
        result = await asyncio.wait_for(asyncio.to_thread(client, host, port, client_ctx(pki)), 30)
        start = await events.wait_for("starttls")
        await events.wait_for("session_end")
        await asyncio.wait_for(honeypot.conns[0].done.wait(), 5)
    seen = bytes(main.conns[0].received)
    assert seen == honeypot.conns[0].received  # the same plaintext, both
    commands = [line.split(b" ")[-1 if proto == "imap" else 0].strip().upper() for line in seen.splitlines()]
    assert b"STARTTLS" not in commands and b"STLS" not in commands  # never forwarded
    return result, seen, start


async def test_smtp_starttls_with_smtplib(tmp_path, make_server, pki) -> None:
    def client(host: str, port: int, ctx: Any) -> Any:
        with smtplib.SMTP(host, port, timeout=10) as s:
            s.ehlo("client.test")
            assert s.has_extn("starttls")  # advertised by honeyswitch, main does not
            s.starttls(context=ctx)
            s.ehlo("client.test")
            assert not s.has_extn("starttls")
            s.sendmail("a@example.test", ["b@example.test"], MESSAGE)
            return s.sock.version()

    version, seen, start = await _run(tmp_path, make_server, pki, "smtp", client)
    assert version == "TLSv1.3" and start["tls"]["version"] == "TLSv1.3" and start["tls"]["ja4"].startswith("t13")
    assert seen.count(b"ehlo client.test") == 2 and b"hello over STARTTLS" in seen  # before and after


async def test_imap_starttls_with_imaplib(tmp_path, make_server, pki) -> None:
    def client(host: str, port: int, ctx: Any) -> Any:
        m = imaplib.IMAP4(host, port, timeout=10)
        assert "STARTTLS" in m.capabilities
        m.starttls(ssl_context=ctx)
        assert "STARTTLS" not in m.capabilities
        m.login("bob", "secret")
        m.select("INBOX")
        m.logout()
        return True

    _, seen, _ = await _run(tmp_path, make_server, pki, "imap", client)
    assert b'LOGIN bob "secret"' in seen


async def test_pop3_stls_with_poplib(tmp_path, make_server, pki) -> None:
    def client(host: str, port: int, ctx: Any) -> Any:
        p = poplib.POP3(host, port, timeout=10)
        assert "STLS" in p.capa()
        p.stls(context=ctx)
        p.user("bob")
        p.pass_("secret")
        stat = p.stat()
        p.quit()
        return stat

    stat, seen, _ = await _run(tmp_path, make_server, pki, "pop3", client)
    assert stat == (1, 18) and b"PASS secret" in seen


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
async def test_smtp_starttls_with_swaks(tmp_path, make_server, pki) -> None:
    def client(host: str, port: int, ctx: Any) -> Any:
        out = subprocess.run(["swaks", "--server", host, "--port", str(port), "--tls", "--to", "b@example.test",
                              "--from", "a@example.test", "--tls-verify", "--tls-ca-path", str(pki["ca"].ca_path),
                              "--tls-sni", "www.example.test", "--ehlo", "swaks.test"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    out, seen, start = await _run(tmp_path, make_server, pki, "smtp", client)
    assert "TLS started" in out and start["tls"]["sni"] == "www.example.test"
    assert seen.count(b"EHLO swaks.test") == 2


@pytest.fixture
def postfixes() -> Iterator[tuple[Any, Any]]:
    """Debian's Postfix twice, as main and as honeypot (no TLS of their own)."""
    from honeyswitch.testing import postfix

    main = postfix.start("main")
    try:
        honeypot = postfix.start("honeypot")
    except BaseException:
        main.stop()
        raise
    try:
        yield main, honeypot
    finally:
        main.stop()
        honeypot.stop()


async def test_smtp_starttls_to_real_postfix(tmp_path, pki, postfixes) -> None:
    """Debian's Postfix as main and as honeypot (no TLS of its own): smtplib upgrades
    through honeyswitch, both Postfixes accept the message, and neither saw a STARTTLS."""
    main, honeypot = postfixes
    cfg = make_config(tmp_path, [mail_service(pki, "smtp", main, honeypot)])
    async with running(cfg) as (app, events):
        host, port = address(app)

        def client() -> None:
            with smtplib.SMTP(host, port, timeout=10) as s:
                s.ehlo("client.test")
                assert s.has_extn("starttls")
                s.starttls(context=client_ctx(pki))
                s.ehlo("client.test")
                assert not s.has_extn("starttls") and s.has_extn("pipelining")
                s.sendmail("a@example.test", ["b@example.test"], MESSAGE)

        await asyncio.wait_for(asyncio.to_thread(client), 30)
        await events.wait_for("starttls")
        await events.wait_for("session_end")
        for _ in range(50):  # Postfix writes its disconnect line after the client's QUIT
            if all("ehlo=" in p.log() and "status=sent" in p.log() for p in (main, honeypot)):
                break
            await asyncio.sleep(0.1)
    for server in (main, honeypot):
        log = server.log()
        summary = [line for line in log.splitlines() if "disconnect from" in line][-1]  # (not the probe)
        # Both got the same commands and never a STARTTLS.  The honeypot's answer to
        # QUIT may find its connection closed already (the session ended with main's
        # 221): Postfix then counts it "quit=0/1".
        expect = r"ehlo=2 mail=1 rcpt=1 data=1 quit=1 " if server is main else r"ehlo=2 mail=1 rcpt=1 data=1 quit=(1|0/1) "
        assert re.search(expect, summary) and "starttls" not in summary, log[-1500:]
        assert "status=sent" in log, log[-1500:]  # queued and delivered (to the discard agent)


def _smtp_reply(f: Any) -> bytes:
    """One whole SMTP reply (its lines up to the one with a space after the code)."""
    out = b""
    while True:
        line = f.readline(4096)
        out += line
        if len(line) < 4 or line[3:4] != b"-":
            return out


async def test_smtp_bdat_chunk_before_starttls_to_real_postfix(tmp_path, pki, postfixes) -> None:
    """A message sent with BDAT (RFC 3030 CHUNKING) before the upgrade, its chunk holding
    a line that reads STARTTLS: the chunk is data to both Postfixes, and the STARTTLS
    command after it is answered by honeyswitch."""
    import socket
    import ssl

    main, honeypot = postfixes
    chunk = b"Subject: chunked\r\n\r\nSTARTTLS\r\n.\r\nend\r\n"
    cfg = make_config(tmp_path, [mail_service(pki, "smtp", main, honeypot)])
    async with running(cfg) as (app, events):
        host, port = address(app)

        def client() -> list[bytes]:
            with socket.create_connection((host, port), timeout=10) as sock:
                f = sock.makefile("rb")
                replies = [_smtp_reply(f)]
                for command in (b"EHLO client.test\r\n", b"MAIL FROM:<a@example.test>\r\n",
                                b"RCPT TO:<b@example.test>\r\n",
                                b"BDAT %d LAST\r\n" % len(chunk) + chunk, b"STARTTLS\r\n"):
                    sock.sendall(command)
                    replies.append(_smtp_reply(f))
                with client_ctx(pki).wrap_socket(sock, server_hostname="localhost") as tls:
                    assert tls.version() in ("TLSv1.2", "TLSv1.3")
                    g = tls.makefile("rb")
                    tls.sendall(b"EHLO client.test\r\n")
                    replies.append(_smtp_reply(g))
                    tls.sendall(b"QUIT\r\n")
                    replies.append(_smtp_reply(g))
                    with contextlib.suppress(ssl.SSLError, OSError):
                        tls.unwrap()
                return replies

        greeting, ehlo, mail, rcpt, bdat, starttls, ehlo_tls, quit_ = await asyncio.wait_for(
            asyncio.to_thread(client), 30)
        assert b"CHUNKING" in ehlo and b"STARTTLS" in ehlo, ehlo
        assert bdat.startswith(b"250 ") and b"queued" in bdat, bdat  # Postfix took the chunk whole
        assert starttls == b"220 2.0.0 Ready to start TLS\r\n"
        assert ehlo_tls.startswith(b"250") and b"STARTTLS" not in ehlo_tls and quit_.startswith(b"221")
        await events.wait_for("starttls")
        await events.wait_for("session_end")
        for _ in range(50):
            if all("status=sent" in p.log() and "bdat=" in p.log() for p in (main, honeypot)):
                break
            await asyncio.sleep(0.1)
    for server in (main, honeypot):
        log = server.log()
        summary = [line for line in log.splitlines() if "disconnect from" in line][-1]
        assert re.search(r"ehlo=2 mail=1 rcpt=1 bdat=1 ", summary) and "starttls" not in summary, log[-1500:]
        assert "status=sent" in log, log[-1500:]


@pytest.mark.parametrize("proto", ["imap", "pop3"])
async def test_imap_and_pop3_starttls_to_real_dovecot(tmp_path, pki, proto: str) -> None:
    """Debian's Dovecot (no TLS of its own) as main and as honeypot: imaplib and poplib
    upgrade through honeyswitch, log in on both, and read the same mailbox."""
    from honeyswitch.testing import dovecot

    main = dovecot.start("main")
    try:
        honeypot = dovecot.start("honeypot")
    except BaseException:
        main.stop()
        raise
    try:
        urls = {"main": main.url if proto == "imap" else main.pop3_url,
                "honeypot": honeypot.url if proto == "imap" else honeypot.pop3_url}
        svc = {"name": proto, **urls, "protocol": proto, "tls": tls_table(pki["web"], starttls=proto)}
        async with running(make_config(tmp_path, [svc])) as (app, events):
            host, port = address(app)

            def client() -> Any:
                if proto == "imap":
                    m = imaplib.IMAP4(host, port, timeout=10)
                    assert "STARTTLS" in m.capabilities
                    m.starttls(ssl_context=client_ctx(pki))
                    assert "STARTTLS" not in m.capabilities
                    m.login("bob", "secret")
                    _, count = m.select("INBOX")
                    _, data = m.fetch(b"1", "(BODY[TEXT])")
                    m.logout()
                    return count, data[0][1]  # type: ignore[index]
                p = poplib.POP3(host, port, timeout=10)
                assert "STLS" in p.capa()
                p.stls(context=client_ctx(pki))
                p.user("bob")
                p.pass_("secret")
                stat = p.stat()
                body = b"\r\n".join(p.retr(1)[1])
                p.quit()
                return stat, body

            result = await asyncio.wait_for(asyncio.to_thread(client), 30)
            await events.wait_for("starttls")
            await events.wait_for("session_end")
            def settled(server: Any) -> bool:  # bob logged in, and his connection is over
                before, login, after = server.log().partition("Login: user=<bob>")
                return bool(login) and "Disconnected" in after

            for _ in range(150):  # the honeypot may lag behind main: give it up to 15 s
                if settled(main) and settled(honeypot):
                    break
                await asyncio.sleep(0.1)
        assert b"hello from dovecot" in result[1]
        # Both logged bob in after the upgrade, which neither saw.  The honeypot may lag
        # behind main: when main's goodbye ends the session, honeyswitch closes the
        # honeypot's connection with its replies unread, the kernel resets it, and the
        # honeypot's last commands can be lost (the client above pauses before its
        # goodbye so that the honeypot has caught up).
        assert "Disconnected: Logged out" in main.log(), main.log()[-1500:]
        for server in (main, honeypot):
            assert "Login: user=<bob>, method=PLAIN" in server.log(), server.log()[-1500:]
    finally:
        main.stop()
        honeypot.stop()
