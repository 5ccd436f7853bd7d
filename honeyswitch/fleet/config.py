"""``[cluster]``: how this host reaches the Redis its peers share.

:func:`read_cluster` takes config's table reader (the one every table uses), so each
problem is the same one-line ``ConfigError`` naming the file and key, e.g.
``honeyswitch.toml: cluster.redis: scheme must be redis://, rediss:// or unix://, not 'http'``.
No ``[cluster]`` table, or an empty ``redis``, means a standalone host.
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..intercept.settings import Reader

CLUSTER_KEYS = {
    "redis", "mode", "sentinel_service", "sentinel_username", "sentinel_password", "password_file",
    "host", "prefix", "connect_timeout", "timeout", "outbox", "request_timeout", "sessions_interval",
    "sessions_max", "decisions_maxlen", "events", "events_maxlen", "tombstone_ttl",
    "tls_ca", "tls_cert", "tls_key",
}
MODES = ("server", "sentinel", "cluster")
SCHEMES = ("redis", "rediss", "unix")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Validated ``[cluster]`` settings (see docs/cluster.md for each key)."""

    redis: tuple[str, ...]  # one server; or the sentinels; or cluster startup nodes
    host: str  # this host's name among its peers
    mode: str = "server"  # "server" | "sentinel" | "cluster"
    sentinel_service: str = ""  # the master's name the sentinels monitor
    sentinel_username: str = ""
    sentinel_password: str = field(default="", repr=False)
    password_file: Path | None = None  # the Redis password, instead of the URL's
    prefix: str = "honeyswitch"  # keys are "{prefix}:..." (one hash slot in a Cluster)
    connect_timeout: float = 1.0
    timeout: float = 1.0  # a command slower than this counts as Redis being down
    outbox: int = 10_000  # decisions kept while Redis is down (see docs/cluster.md)
    request_timeout: float = 3.0  # how long a switch asked of another host waits
    sessions_interval: float = 1.0  # how often this host publishes its live sessions
    sessions_max: int = 5_000  # sessions published per host (the highest scores)
    decisions_maxlen: int = 100_000  # entries kept in the decision stream
    events: bool = True  # copy every event to the cluster's event stream
    events_maxlen: int = 100_000
    tombstone_ttl: float = 86_400.0  # how long a removal outranks older adds
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def node(self, worker: int | None = None) -> str:
        """This process's name among its peers: the host, or ``host/wN`` for worker N."""
        return self.host if worker is None else f"{self.host}/w{worker}"

    @property
    def tls(self) -> bool:
        return any(urlsplit(u).scheme == "rediss" for u in self.redis)

    def shown(self) -> str:
        """The addresses without passwords, for health, logs and events."""
        return ",".join(redact(u) for u in self.redis)


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = unquote(parts.username or "")
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def default_host() -> str:
    """The machine's short host name, trimmed to what a node name may hold."""
    name = socket.gethostname().split(".", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", name).strip("-.") or "honeyswitch"
    return name[:63]


def read_cluster(r: Reader, base: Path) -> ClusterConfig | None:
    """The ``[cluster]`` table's settings, or None when no Redis is configured."""
    urls = _urls(r)
    if not urls:
        return None
    mode = r.choice("mode", MODES, "server")
    if mode == "server" and len(urls) > 1:
        r.fail("redis", 'several addresses need mode = "sentinel" or "cluster"')
    if mode != "server" and any(urlsplit(u).scheme == "unix" for u in urls):
        r.fail("redis", f"mode = {mode!r} needs host:port addresses, not unix://")
    service = r.get("sentinel_service", str, "")
    if mode == "sentinel" and not NAME.fullmatch(service):
        r.fail("sentinel_service", 'is required with mode = "sentinel": the monitored master\'s name')
    if mode != "sentinel" and service:
        r.fail("sentinel_service", 'needs mode = "sentinel"')
    host = r.get("host", str, "") or default_host()
    if not NAME.fullmatch(host):
        r.fail("host", f"must be 1-63 of A-Z a-z 0-9 _ . - (starting with a letter or digit), not {host!r}")
    prefix = r.get("prefix", str, "honeyswitch")
    if not PREFIX.fullmatch(prefix):
        r.fail("prefix", f"must be 1-64 of A-Z a-z 0-9 _ . : -, not {prefix!r}")
    tls = _tls(r, urls, base)
    return ClusterConfig(
        redis=urls, host=host, mode=mode, sentinel_service=service,
        sentinel_username=r.get("sentinel_username", str, ""),
        sentinel_password=r.get("sentinel_password", str, ""),
        password_file=r.path("password_file", "", base) if r.table.get("password_file") else None,
        prefix=prefix,
        connect_timeout=_positive(r, "connect_timeout", 1.0),
        timeout=_positive(r, "timeout", 1.0),
        outbox=_count(r, "outbox", 10_000, 100),
        request_timeout=_positive(r, "request_timeout", 3.0),
        sessions_interval=_positive(r, "sessions_interval", 1.0),
        sessions_max=_count(r, "sessions_max", 5_000, 1),
        decisions_maxlen=_count(r, "decisions_maxlen", 100_000, 1_000),
        events=r.get("events", bool, True),
        events_maxlen=_count(r, "events_maxlen", 100_000, 1_000),
        tombstone_ttl=_positive(r, "tombstone_ttl", 86_400.0),
        **tls,
    )


def _urls(r: Reader) -> tuple[str, ...]:
    raw = r.get("redis", (str, list), "")
    items = [raw] if isinstance(raw, str) else raw
    urls = []
    for item in items:
        if not isinstance(item, str):
            r.fail("redis", f"must be a URL or a list of URLs, not {type(item).__name__} {item!r}")
        if item.strip():
            urls.append(_url(r, item.strip()))
    if isinstance(raw, list) and raw and not urls:
        r.fail("redis", "lists no address")
    return tuple(urls)


def _url(r: Reader, url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        r.fail("redis", f"{redact(url)!r}: {e}")
    if parts.scheme not in SCHEMES:
        r.fail("redis", f"scheme must be redis://, rediss:// or unix://, not {parts.scheme or url[:20]!r}")
    if parts.scheme == "unix":
        if not parts.path.startswith("/"):
            r.fail("redis", f"unix:// needs an absolute socket path, not {redact(url)!r}")
    elif not parts.hostname:
        r.fail("redis", f"{redact(url)!r} names no host")
    elif port == 0:
        r.fail("redis", f"{redact(url)!r}: port must be 1-65535")
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        r.fail("redis", f"{redact(url)!r}: the path must be a database number, not {db!r}")
    return url


def _tls(r: Reader, urls: tuple[str, ...], base: Path) -> dict[str, Path | None]:
    out: dict[str, Path | None] = {}
    for key in ("tls_ca", "tls_cert", "tls_key"):
        out[key] = r.path(key, "", base) if r.table.get(key) else None
        if out[key] is not None and not all(urlsplit(u).scheme == "rediss" for u in urls):
            r.fail(key, "needs rediss:// addresses")
    if (out["tls_cert"] is None) != (out["tls_key"] is None):
        r.fail("tls_cert" if out["tls_cert"] is None else "tls_key", "tls_cert and tls_key go together")
    return out


def _positive(r: Reader, key: str, default: float) -> float:
    value = r.number(key, default)
    if value <= 0:
        r.fail(key, "must be > 0")
    return value


def _count(r: Reader, key: str, default: int, minimum: int) -> int:
    value = r.get(key, int, default)
    if value < minimum:
        r.fail(key, f"must be >= {minimum}, not {value}")
    return int(value)
