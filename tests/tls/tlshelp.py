"""Helpers of the TLS tests."""
from __future__ import annotations

import socket
import ssl
from typing import Any

from honeyswitch.testing.certs import Issued


def tls_table(cert: Issued, **extra: Any) -> dict[str, Any]:
    return {"cert": str(cert.cert), "key": str(cert.key), **extra}


def client_ctx(pki: dict[str, Any], *, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["ca"].ca_path))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


class RawTlsClient:
    """A TLS client of our own (an SSLObject over a blocking socket) for what ordinary
    clients will not do: half-close with close_notify, forged records."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext, sni: str = "www.example.test") -> None:
        self.sock = socket.create_connection((host, port), 5)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                self.inc.write(self.sock.recv(65536))
        self.sock.sendall(self.out.read())

    def write(self, data: bytes, raw_after: bytes = b"") -> None:
        """Send ``data`` in TLS, then ``raw_after`` as it is."""
        self.obj.write(data)
        self.sock.sendall(self.out.read() + raw_after)
