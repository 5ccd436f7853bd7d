"""OpenSSL contexts from the config: the server side (the client's TLS ends here) and
the client side (``tls://`` backends, re-encrypted and verified).

A problem is a :class:`ContextError` naming the key (``cert``, ``key``, ``ciphers``...)
and the file, in one line.  Keys with a passphrase are refused rather than prompted for
(OpenSSL would otherwise ask on the daemon's terminal).
"""
from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class ContextError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _no_passphrase() -> NoReturn:
    raise ContextError("key", "is encrypted; give honeyswitch a key without a passphrase")


def _read(key: str, path: Path, marker: bytes, what: str) -> None:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ContextError(key, f"{path}: cannot read: {e.strerror or e}") from None
    if marker not in data:
        raise ContextError(key, f"{path}: no PEM {what} in the file")


def _load_chain(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    _read("cert", cert, b"-----BEGIN CERTIFICATE-----", "certificate")
    _read("key", key, b"PRIVATE KEY-----", "private key")
    try:
        ctx.load_cert_chain(str(cert), str(key), password=_no_passphrase)
    except ContextError as e:
        raise ContextError(e.key, f"{key}: {e}") from None
    except ssl.SSLError as e:
        reason = (e.reason or str(e)).lower().replace("_", " ")
        if "mismatch" in reason or "no certificate assigned" in reason:  # (another key type)
            raise ContextError("key", f"{key}: does not match the certificate in {cert}") from None
        which, path = ("key", key) if "key" in reason or "bad decrypt" in reason else ("cert", cert)
        raise ContextError(which, f"{path}: cannot load: {reason}") from None


def server_context(cert: Path, key: Path, *, min_version: str = "1.2", ciphers: str = "",
                   alpn: Sequence[str] = (), tickets: bool = True) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[min_version]
    # Client-initiated renegotiation is a handshake flood on one connection; compression
    # leaks plaintext (CRIME).  The server's cipher order wins.
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if not tickets:
        ctx.options |= ssl.OP_NO_TICKET
        ctx.num_tickets = 0
    if ciphers:
        try:
            ctx.set_ciphers(ciphers)
        except ssl.SSLError:
            raise ContextError("ciphers", f"no cipher can be selected from {ciphers!r}") from None
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    _load_chain(ctx, cert, key)
    return ctx


def client_context(*, ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                   verify: bool = True, min_version: str = "1.2") -> ssl.SSLContext:
    """A context for a ``tls://`` backend: verified against ``ca`` (only), else the
    system store; ``verify = false`` turns verification off (a self-signed honeypot)."""
    if ca is not None:
        _read("ca", ca, b"-----BEGIN CERTIFICATE-----", "certificate")
    try:
        ctx = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except ssl.SSLError as e:
        raise ContextError("ca", f"{ca}: cannot load: {e.reason or e}") from None
    ctx.minimum_version = _VERSIONS[min_version]
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None and key is not None:
        _load_chain(ctx, cert, key)
    return ctx
