"""An HTTPS service whose main and honeypot are real nginx servers: curl and openssl
s_client through honeyswitch, megabytes byte-exact through MIRROR (plaintext and
``tls://`` backends), and a switch on a keep-alive connection that the client's same
TLS connection never notices, while main sees the reset."""
from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tlshelp import client_ctx, tls_table

from honeyswitch.record.transcripts import read_transcript, to_pcap
from honeyswitch.testing import nginx, require, servers
from honeyswitch.testing.harness import address, make_config, running

SNI = "www.example.test"
BIG = servers.pattern(3 << 20, seed=11)


def _site(root: Path, tag: str) -> Path:
    root.mkdir(parents=True)
    (root / "big.bin").write_bytes(BIG)
    (root / "index.html").write_text(f"<h1>{tag}</h1>\n")
    (root / "page.html").write_text("<p>same page on both</p>\n")
    return root


@pytest.fixture
def pair(tmp_path: Path, request: Any, pki: dict[str, Any]) -> Iterator[tuple[nginx.Nginx, nginx.Nginx]]:
    """main and honeypot nginx; ``tls`` (indirect param) gives each its own certificate."""
    tls = getattr(request, "param", False)
    started = []
    try:
        for role in ("main", "honeypot"):
            cert = pki[role] if tls else None
            started.append(nginx.start(tmp_path / f"{role}-nginx", _site(tmp_path / f"{role}-www", role),
                                       cert=cert.cert if cert else None, key=cert.key if cert else None))
        yield started[0], started[1]
    finally:
        for n in started:
            n.stop()


def _service(pki: dict[str, Any], main: nginx.Nginx, honeypot: nginx.Nginx, tls_backends: bool, **extra: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {"name": "web", "main": main.url, "honeypot": honeypot.url, "protocol": "http",
                           "tls": tls_table(pki["web"]), **extra}
    if tls_backends:
        ca = str(pki["ca"].ca_path)
        svc.update(main=f"tls://127.0.0.1:{main.port}", honeypot=f"tls://127.0.0.1:{honeypot.port}",
                   main_tls={"ca": ca, "sni": "main.internal"}, honeypot_tls={"ca": ca, "sni": "honeypot.internal"})
    return svc


async def _tool(argv: list[str], stdin: bytes = b"", timeout: float = 60) -> bytes:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode == 0, (argv[0], err.decode(errors="replace")[-800:])
    return out


@pytest.mark.parametrize("pair", [False, True], ids=["plaintext-backends", "tls-backends"], indirect=True)
async def test_curl_and_s_client_megabytes_through_mirror(tmp_path, pair, pki) -> None:
    main, honeypot = pair
    tls_backends = main.dir.joinpath("nginx.conf").read_text().count(" ssl") > 0
    cfg = make_config(tmp_path, [_service(pki, main, honeypot, tls_backends)])
    async with running(cfg) as (app, events):
        port = address(app)[1]
        body = await _tool([require.program("curl"), "-sS", "--fail", "--cacert", str(pki["ca"].ca_path),
                            "--resolve", f"{SNI}:{port}:127.0.0.1", f"https://{SNI}:{port}/big.bin"])
        assert hashlib.sha256(body).digest() == hashlib.sha256(BIG).digest()
        request = f"GET /big.bin HTTP/1.1\r\nHost: {SNI}\r\nConnection: close\r\n\r\n".encode()
        out = await _tool([require.program("openssl"), "s_client", "-quiet", "-connect", f"127.0.0.1:{port}",
                           "-servername", SNI, "-CAfile", str(pki["ca"].ca_path), "-verify_return_error",
                           "-alpn", "http/1.1"], request)
        head, _, got = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and hashlib.sha256(got).digest() == hashlib.sha256(BIG).digest()
        await events.wait_for("session_end")
        starts = events.of_type("session_start")
    assert len(starts) == 2 and all(s["tls"]["sni"] == SNI for s in starts)
    assert not events.of_type("honeypot_dropped")
    # The two nginx may stamp their replies a second apart (the Date header): that is
    # the only difference allowed between main's and the honeypot's replies.
    for d in events.of_type("divergence"):
        assert re.sub(r"\d", "0", d["main_excerpt"]) == re.sub(r"\d", "0", d["honeypot_excerpt"]), d
    # both backends served every request: the honeypot kept pace in MIRROR (nginx logs a
    # request when its reply is out; the honeypot's is drained after the session ends)
    for _ in range(100):
        if all(sum('"GET /big.bin' in line for line in n.access()) == 2 for n in (main, honeypot)):
            break
        await asyncio.sleep(0.05)
    assert sum('"GET /big.bin' in line for line in main.access()) == 2
    assert sum('"GET /big.bin' in line for line in honeypot.access()) == 2


def _get(tls: ssl.SSLSocket, path: str) -> bytes:
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {SNI}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += tls.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
    while len(body) < length:
        body += tls.recv(65536)
    return body


@pytest.mark.parametrize("pair", [False, True], ids=["plaintext-backends", "tls-backends"], indirect=True)
async def test_switch_on_a_keep_alive_tls_connection(tmp_path, pair, pki) -> None:
    main, honeypot = pair
    tls_backends = main.dir.joinpath("nginx.conf").read_text().count(" ssl") > 0
    cfg = make_config(tmp_path, [_service(pki, main, honeypot, tls_backends, align="quiet", quiet_time=0.05)])
    async with running(cfg) as (app, events):
        host, port = address(app)
        ctx = client_ctx(pki, alpn=["http/1.1"])
        raw = await asyncio.to_thread(socket.create_connection, (host, port), 10)
        tls = await asyncio.to_thread(ctx.wrap_socket, raw, server_hostname=SNI)
        try:
            assert await asyncio.to_thread(_get, tls, "/") == b"<h1>main</h1>\n"
            big = await asyncio.to_thread(_get, tls, "/big.bin")
            assert big == BIG
            start = await events.wait_for("session_start")
            assert app.switch_session(start["session_id"], "operator", "test")
            await events.wait_for("switch_done")
            # the same TLS connection, now the honeypot's pages
            assert await asyncio.to_thread(_get, tls, "/") == b"<h1>honeypot</h1>\n"
            assert await asyncio.to_thread(_get, tls, "/page.html") == b"<p>same page on both</p>\n"
        finally:
            tls.close()
        end = await events.wait_for("session_end")
    # The transcript and its pcap hold the plaintext, as Wireshark users can follow it.
    recs = list(read_transcript(Path(end["transcript"])))
    client_bytes = b"".join(r["d"] for r in recs if r.get("s") == "client")
    assert b"GET / HTTP/1.1" in client_bytes and b"GET /page.html" in client_bytes  # (history: a tail)
    pcap = to_pcap(recs, None, tmp_path / "s.pcap").read_bytes()
    assert b"GET /page.html HTTP/1.1" in pcap and b"<h1>honeypot</h1>" in pcap
    for _ in range(100):
        if len(honeypot.access()) == 4 and "reset by peer" in main.errors():
            break
        await asyncio.sleep(0.05)
    assert "reset by peer" in main.errors() or "Connection reset" in main.errors()
    assert [line.split('"')[1] for line in main.access()] == ["GET / HTTP/1.1", "GET /big.bin HTTP/1.1"]
    hp = [line.split('"')[1] for line in honeypot.access()]
    assert hp == ["GET / HTTP/1.1", "GET /big.bin HTTP/1.1", "GET / HTTP/1.1", "GET /page.html HTTP/1.1"]
