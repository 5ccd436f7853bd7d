"""SIGHUP with a new certificate: new handshakes get it, live TLS sessions go on."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from tlshelp import client_ctx

from honeyswitch.app import App
from honeyswitch.config import load
from honeyswitch.testing import servers
from honeyswitch.testing.harness import EventCapture


def _write(path: Path, port: int, main: str, honeypot: str, cert: Path, key: Path) -> None:
    path.write_text(f"""
[[service]]
name = "web"
listen = "127.0.0.1:{port}"
main = "{main}"
honeypot = "{honeypot}"
tls = {{ cert = "{cert}", key = "{key}" }}
[store]
path = "{path.parent / 'hs.db'}"
[events]
path = "{path.parent / 'events.jsonl'}"
[transcripts]
dir = "{path.parent / 'transcripts'}"
[control]
listen = ""
""")


async def _serial(port: int, pki: dict[str, Any]) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(pki),
                                                   server_hostname="www.example.test")
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    from cryptography import x509

    return x509.load_der_x509_certificate(der).serial_number, reader, writer


async def test_sighup_new_cert_for_new_sessions_live_ones_go_on(tmp_path: Path, make_server, pki) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    ca = pki["ca"]
    first, second = ca.issue("www.example.test", tag="-1"), ca.issue("www.example.test", tag="-2")
    cert, key = tmp_path / "web.crt", tmp_path / "web.key"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    cfg_path = tmp_path / "honeyswitch.toml"
    _write(cfg_path, 0, main.url, honeypot.url, cert, key)
    app = App(load(cfg_path))
    events = EventCapture(app)
    await app.start()
    try:
        port = app.listening("web")[0][1]
        _write(cfg_path, port, main.url, honeypot.url, cert, key)
        old_serial, reader, writer = await _serial(port, pki)
        writer.write(b"one\n")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"one\n"

        shutil.copy(second.cert, cert)  # the operator renews the certificate in place
        shutil.copy(second.key, key)
        os.kill(os.getpid(), signal.SIGHUP)
        assert (await events.wait_for("config_reload"))["ok"] is True

        new_serial, r2, w2 = await _serial(port, pki)
        assert new_serial != old_serial
        w2.write(b"two\n")
        assert await asyncio.wait_for(r2.readexactly(4), 5) == b"two\n"
        w2.close()
        writer.write(b"still\n")  # the live session, on the old certificate, goes on
        assert await asyncio.wait_for(reader.readexactly(6), 5) == b"still\n"
        writer.close()

        key.write_text("not a key\n")  # a broken renewal: refused, the running cert stays
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.sleep(0.2)
        refused = events.of_type("config_reload", ok=False)
        assert refused and "web.key" in refused[0]["error"] and "tls.key" in refused[0]["error"]
        serial, r3, w3 = await _serial(port, pki)
        assert serial == new_serial
        w3.close()
    finally:
        await app.stop()
