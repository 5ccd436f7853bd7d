"""The ``tls`` keys of a service: terminating the client's TLS, and ``tls://`` backends.

The keys are declared here (:data:`TLS_KEYS`, nested tables for :mod:`honeyswitch.schema`)
and built by :func:`read_tls`, which :mod:`honeyswitch.config` calls for each service,
so every problem is the same one-line ConfigError naming the file and the key
(``service[0].tls.key: ...``).  The OpenSSL contexts are built here, at load time: a bad
or unreadable certificate or key fails the config check (and a SIGHUP reload), never the
first handshake.

```toml
tls = { cert = "web.pem", key = "web.key" }          # terminate the client's TLS
main = "tls://10.0.0.5:443"                           # re-encrypt towards main
main_tls = { ca = "main-ca.pem", sni = "www.example.com" }
```
"""
from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..schema import Custom, Key
from .contexts import ContextError, client_context, server_context

if TYPE_CHECKING:
    from ..schema import Table

SERVER_KEYS = {"cert", "key", "certs", "min_version", "ciphers", "alpn", "handshake_timeout",
               "max_handshakes", "session_tickets", "starttls", "ocsp"}
CERT_KEYS = {"sni", "cert", "key"}
BACKEND_KEYS = {"ca", "sni", "cert", "key", "verify", "min_version"}
VERSIONS = ("1.2", "1.3")
STARTTLS = ("", "smtp", "imap", "pop3")
_NON_HTTP = {"redis", "ftp", "smtp", "pop3", "imap", "telnet", "ssh", "mysql", "line"}


@dataclass(frozen=True, slots=True)
class TlsServer:
    """How a service terminates its clients' TLS."""

    contexts: tuple[tuple[tuple[str, ...], ssl.SSLContext], ...] = field(compare=False)  # (names, context)
    default: ssl.SSLContext = field(compare=False)
    files: tuple[str, ...] = ()  # the cert/key files, for messages and reload checks
    alpn: tuple[str, ...] = ()
    min_version: str = "1.2"
    handshake_timeout: float = 10.0
    max_handshakes: int = 256  # concurrent handshakes per service and process
    starttls: str = ""  # "": TLS from the first byte; "smtp" | "imap" | "pop3": after the upgrade

    def context_for(self, sni: bytes | None) -> ssl.SSLContext:
        """The context of the certificate for ``sni`` (exact name, then one-label
        wildcard), else the default certificate's."""
        if sni:
            name = sni.decode("ascii", "replace").lower().rstrip(".")
            parent = name.partition(".")[2]
            for names, ctx in self.contexts:
                if name in names or (parent and f"*.{parent}" in names):
                    return ctx
        return self.default


@dataclass(frozen=True, slots=True)
class TlsBackend:
    """A ``tls://`` backend: re-encrypted, verified against ``ca`` or the system store."""

    context: ssl.SSLContext = field(compare=False)
    server_hostname: str | None = None  # SNI and the name verified; None: no SNI, no name check


@dataclass(frozen=True, slots=True)
class Nested:
    """A nested table as written, with the directory its relative paths start from."""

    table: Mapping[str, Any]
    base: Path


def _nested(value: Any, base: Path) -> Nested:
    if not isinstance(value, Mapping):
        raise ValueError("must be a table")
    return Nested(value, base)


TLS_KEYS = (
    Key("tls", Custom(_nested), None, 'terminate TLS: { cert = "www.pem", key = "www.key" } (README "TLS services")'),
    Key("main_tls", Custom(_nested), None, "a tls:// main's { ca, sni, cert, key, verify, min_version }"),
    Key("honeypot_tls", Custom(_nested), None, "the same for a tls:// honeypot"),
)


def read_tls(t: Table, mode: str = "proxy") -> dict[str, Any]:
    """ServiceConfig field values: ``tls`` (TlsServer or None), ``main_tls``,
    ``honeypot_tls`` (TlsBackend or None)."""
    out: dict[str, Any] = {"tls": None, "main_tls": None, "honeypot_tls": None}
    if t["tls"] is not None:
        if mode == "packet":
            t.fail("tls", 'not with mode = "packet" (the packets pass through; their TLS is main\'s)')
        out["tls"] = _server(t, str(t["protocol"] or ""))
    for key in ("main", "honeypot"):
        url = str(t[key])
        if t[f"{key}_tls"] is not None and not url.startswith("tls://"):
            t.fail(f"{key}_tls", f"needs a tls://host:port {key} backend")
        if url.startswith("tls://"):
            out[f"{key}_tls"] = _backend(t, f"{key}_tls", url[6:])
    return out


def _sub(t: Table, key: str, nested: Any, known: set[str]) -> _Sub:
    if isinstance(nested, Nested):
        table, base = nested.table, nested.base
    elif isinstance(nested, Mapping):  # an item of tls.certs: the outer table's base
        table, base = nested, Path()
    else:
        t.fail(key, "must be a table")
    for k in table:
        if k not in known:
            t.fail(f"{key}.{k}", f"unknown key (known: {', '.join(sorted(known))})")
    return _Sub(t, key, table, base)


class _Sub:
    """Typed access to a nested table, failing through the service's table."""

    def __init__(self, r: Table, key: str, table: Mapping[str, Any], base: Path) -> None:
        self.r, self.key, self.table, self.base = r, key, table, base

    def fail(self, k: str, problem: str) -> Any:
        self.r.fail(f"{self.key}.{k}" if k else self.key, problem)

    def get(self, k: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.table.get(k, default)
        if isinstance(value, bool) and kind in (int, float, (int, float)) or not isinstance(value, kind):
            self.fail(k, f"must be {getattr(kind, '__name__', kind)}, not {value!r}")
        return value

    def path(self, k: str) -> Path:
        value = self.get(k, str, "")
        if not value:
            self.fail(k, "must not be empty")
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def number(self, k: str, default: float, minimum: float) -> float:
        value = float(self.get(k, (int, float), default))
        if value < minimum:
            self.fail(k, f"must be >= {minimum:g}, not {value:g}")
        return value


def _server(r: Table, protocol: str) -> TlsServer:
    t = _sub(r, "tls", r["tls"], SERVER_KEYS)
    if "ocsp" in t.table:
        t.fail("ocsp", "OCSP stapling is not available: Python's ssl module has no way to staple a response")
    starttls = t.get("starttls", str, "")
    if starttls not in STARTTLS:
        t.fail("starttls", f"must be one of {', '.join(map(repr, STARTTLS))}, not {starttls!r}")
    options: dict[str, Any] = {"min_version": _version(t), "ciphers": t.get("ciphers", str, ""),
                               "alpn": _alpn(t, protocol), "tickets": t.get("session_tickets", bool, True)}

    def make(sub: _Sub, where: str) -> tuple[ssl.SSLContext, list[str]]:
        if "cert" not in sub.table or "key" not in sub.table:
            sub.fail("cert" if "cert" not in sub.table else "key", "is required")
        cert, key = sub.path("cert"), sub.path("key")
        try:
            return server_context(cert, key, **options), [str(cert), str(key)]
        except ContextError as e:
            r.fail(f"{where}.{e.key}" if e.key else where, str(e))

    default, files = make(t, "tls")
    contexts = []
    for i, item in enumerate(t.get("certs", list, [])):
        sub = _sub(r, f"tls.certs[{i}]", item, CERT_KEYS)
        sub.base = t.base
        names = sub.get("sni", list, [])
        if not names or not all(isinstance(n, str) and n for n in names):
            sub.fail("sni", "must be a list of host names (\"*.example.com\" matches one label)")
        ctx, more = make(sub, f"tls.certs[{i}]")
        contexts.append((tuple(n.lower().rstrip(".") for n in names), ctx))
        files += more
    return TlsServer(
        contexts=tuple(contexts), default=default, files=tuple(files), alpn=tuple(options["alpn"]),
        min_version=options["min_version"],
        handshake_timeout=t.number("handshake_timeout", 10.0, 0.01),
        max_handshakes=int(t.number("max_handshakes", 256, 1)),
        starttls=starttls,
    )


def _version(t: _Sub) -> str:
    value = t.get("min_version", str, "1.2")
    if value not in VERSIONS:
        t.fail("min_version", f"must be one of {', '.join(map(repr, VERSIONS))}, not {value!r}")
    return str(value)


def _alpn(t: _Sub, protocol: str) -> list[str]:
    alpn = t.get("alpn", list, [] if protocol in _NON_HTTP else ["http/1.1"])
    if not all(isinstance(a, str) and 0 < len(a.encode()) < 256 for a in alpn):
        t.fail("alpn", f"must be a list of protocol names like \"http/1.1\", not {alpn!r}")
    if "h2" in alpn:
        t.fail("alpn", "h2 is not supported: the relay carries HTTP/1.1 (a client offering only h2 is refused)")
    return list(alpn)


def _backend(r: Table, key: str, hostport: str) -> TlsBackend:
    t = _sub(r, key, r[key] if r[key] is not None else Nested({}, Path()), BACKEND_KEYS)
    verify = t.get("verify", bool, True)
    ca = t.path("ca") if "ca" in t.table else None
    if ("cert" in t.table) != ("key" in t.table):
        t.fail("key" if "cert" in t.table else "cert", "client certificates need both cert and key")
    cert = t.path("cert") if "cert" in t.table else None
    keyfile = t.path("key") if "key" in t.table else None
    min_version = _version(t)
    # CPython sends no SNI for an IP address and checks the certificate's IP entry instead.
    host = hostport.rsplit(":", 1)[0].strip("[]")
    try:
        ctx = client_context(ca=ca, cert=cert, key=keyfile, verify=verify, min_version=min_version)
    except ContextError as e:
        r.fail(f"{key}.{e.key}" if e.key else key, str(e))
    return TlsBackend(ctx, server_hostname=t.get("sni", str, "") or host)
