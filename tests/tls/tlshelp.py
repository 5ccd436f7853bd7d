"""Helpers of the TLS tests."""
from __future__ import annotations

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
