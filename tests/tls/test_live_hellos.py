"""ClientHellos captured live from real clients (openssl s_client, curl, Python's ssl),
parsed, fingerprinted, and checked against Suricata's own JA3/JA4 of the same bytes."""
from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from honeyswitch.record.pcap import _Conversation, _Pcap
from honeyswitch.tls.fingerprint import fingerprints
from honeyswitch.tls.hello import ClientHello, HelloReader

SNI = "client.example.test"


async def _capture(run_client: list[str] | None, py_alpn: list[str] | None = None) -> tuple[bytes, ClientHello]:
    """Start a listener, let one client connect, keep its bytes until the hello is whole."""
    got: asyncio.Future[tuple[bytes, ClientHello]] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hr, raw = HelloReader(), b""
        while not got.done():
            data = await reader.read(65536)
            if not data:
                break
            raw += data
            hello = hr.feed(data)
            if hello is not None:
                got.set_result((raw, hello))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if run_client is not None:
        argv = [a.replace("PORT", str(port)) for a in run_client]
        proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.DEVNULL)
    else:
        def py_client() -> None:
            ctx = ssl.create_default_context()
            if py_alpn:
                ctx.set_alpn_protocols(py_alpn)
            import socket
            with socket.create_connection(("127.0.0.1", port)) as sock:
                try:
                    ctx.wrap_socket(sock, server_hostname=SNI)
                except (ssl.SSLError, OSError):
                    pass
        proc = None
        asyncio.get_running_loop().run_in_executor(None, py_client)
    try:
        return await asyncio.wait_for(got, 10)
    finally:
        server.close()
        if proc is not None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await proc.wait()


CLIENTS = {
    "openssl": (["openssl", "s_client", "-connect", "127.0.0.1:PORT", "-servername", SNI, "-alpn", "http/1.1"],
                [b"http/1.1"]),
    "curl": (["curl", "-sk", "--max-time", "5", "--http1.1", "--resolve", f"{SNI}:PORT:127.0.0.1",
              f"https://{SNI}:PORT/"], [b"http/1.1"]),
}


@pytest.mark.parametrize("name", sorted(CLIENTS))
async def test_real_client_hello(name: str, tmp_path: Path) -> None:
    argv, alpn = CLIENTS[name]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} not installed")
    raw, hello = await _capture(argv)
    assert hello.sni == SNI.encode()
    assert hello.alpn == tuple(alpn)
    assert 0x0304 in hello.supported_versions  # OpenSSL 3 offers TLS 1.3
    fp = fingerprints(hello)
    assert fp.ja4.startswith("t13d") and fp.ja4[8:10] == "h1"
    _check_with_suricata(raw, fp.ja3_hash, fp.ja4, tmp_path)


async def test_python_ssl_hello(tmp_path: Path) -> None:
    raw, hello = await _capture(None, py_alpn=["h2", "http/1.1"])
    assert hello.sni == SNI.encode() and hello.alpn == (b"h2", b"http/1.1")
    fp = fingerprints(hello)
    assert fp.ja4[8:10] == "h2" and len(fp.ja3_hash) == 32
    assert fp.ja3.split(",")[0] == "771"
    _check_with_suricata(raw, fp.ja3_hash, fp.ja4, tmp_path)


SURICATA_YAML = """%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "any"
    EXTERNAL_NET: "any"
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert
app-layer:
  protocols:
    tls:
      enabled: yes
      detection-ports:
        dp: 443
      ja3-fingerprints: yes
      ja4-fingerprints: yes
logging:
  default-log-level: error
"""


def _check_with_suricata(raw: bytes, ja3: str, ja4: str, tmp: Path) -> None:
    """Suricata (a separate implementation) must match its ja3.hash/ja4.hash rules on our
    values for the same bytes, and not on a value one character off."""
    exe = shutil.which("suricata")
    if exe is None:
        return  # the reference values in test_hello.py still check the algorithm
    with open(tmp / "hello.pcap", "wb") as f:
        conv = _Conversation(_Pcap(f), ("198.51.100.1", 40000), ("198.51.100.2", 443), (1000, 5000), (0, 0))
        conv.data(1.0, True, raw)
        conv.finish(2.0)
    wrong = ja4[:-1] + ("0" if ja4[-1] != "0" else "1")
    (tmp / "r.rules").write_text(
        f'alert tls any any -> any any (msg:"ja4"; ja4.hash; content:"{ja4}"; sid:1;)\n'
        f'alert tls any any -> any any (msg:"ja3"; ja3.hash; content:"{ja3}"; sid:2;)\n'
        f'alert tls any any -> any any (msg:"sni"; tls.sni; content:"{SNI}"; sid:3;)\n'
        f'alert tls any any -> any any (msg:"off by one"; ja4.hash; content:"{wrong}"; sid:4;)\n')
    (tmp / "s.yaml").write_text(SURICATA_YAML)
    subprocess.run([exe, "-r", str(tmp / "hello.pcap"), "-c", str(tmp / "s.yaml"), "-S", str(tmp / "r.rules"),
                    "-l", str(tmp), "-k", "none"], check=True, capture_output=True, timeout=60)
    eve = (tmp / "eve.json").read_text()
    sids = {int(part.split(",")[0]) for part in eve.split('"signature_id":')[1:]}
    assert sids == {1, 2, 3}, eve
