"""``[cluster]``: how this host reaches the Redis its peers share.

The keys are declared here (:data:`CLUSTER`, a :class:`~honeyswitch.schema.Section`)
like every other table's, so validation, ``HONEYSWITCH_CLUSTER_<KEY>`` overrides and
the reference block come from one place; :func:`read_cluster` builds the settings and
checks the rules across keys, with the same one-line errors, e.g.
``honeyswitch.toml: cluster.redis: several addresses need mode = "sentinel" or "cluster"``.
No ``[cluster]`` table, or an empty ``redis``, means a standalone host.
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..schema import Bool, Choice, Custom, FilePath, Integer, Key, Number, Section, Table, Text

MODES = ("server", "sentinel", "cluster")
SCHEMES = ("redis", "rediss", "unix")
NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
NAME_RULE = "1-63 of A-Z a-z 0-9 _ . - (starting with a letter or digit)"


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


def _url(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{redact(url)!r}: {e}") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"scheme must be redis://, rediss:// or unix://, not {parts.scheme or url[:20]!r}")
    if parts.scheme == "unix":
        if not parts.path.startswith("/"):
            raise ValueError(f"unix:// needs an absolute socket path, not {redact(url)!r}")
    elif not parts.hostname:
        raise ValueError(f"{redact(url)!r} names no host")
    elif port == 0:
        raise ValueError(f"{redact(url)!r}: port must be 1-65535")
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ValueError(f"{redact(url)!r}: the path must be a database number, not {db!r}")
    return url


def _urls(value: Any, base: Path) -> tuple[str, ...]:
    if not isinstance(value, (str, list)):
        raise ValueError(f"must be a URL or a list of URLs, not {type(value).__name__} {value!r}")
    items = [value] if isinstance(value, str) else value
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"must be a URL or a list of URLs, not {type(item).__name__} {item!r}")
    urls = tuple(_url(item.strip()) for item in items if item.strip())
    if isinstance(value, list) and value and not urls:
        raise ValueError("lists no address")
    return urls


def _urls_env(text: str) -> Any:
    return [u.strip() for u in text.split(",")] if "," in text else text


def _count(low: int, high: int = 1_000_000_000) -> Integer:
    return Integer(low, high)


CLUSTER = Section("cluster", (
    Key("redis", Custom(_urls, _urls_env), "", 'redis://, rediss://user:pass@host:port, unix:///path; '
        '"" = standalone', example="rediss://honeyswitch:PASSWORD@redis.example:6380"),
    Key("mode", Choice(MODES), "server", '"sentinel" | "cluster": redis lists the sentinels | nodes'),
    Key("sentinel_service", Text(NAME, NAME_RULE), None, "mode = \"sentinel\": the monitored master's name"),
    Key("sentinel_username", Text(), None, "the sentinels' own ACL user, if any"),
    Key("sentinel_password", Text(), None, "the sentinels' own password, if any"),
    Key("password_file", FilePath("file"), None, "the Redis password, instead of the URL's"),
    Key("host", Text(NAME, NAME_RULE), None, "this host's name among its peers (default: the short hostname)"),
    Key("prefix", Text(r"[A-Za-z0-9_.:-]{1,64}", "1-64 of A-Z a-z 0-9 _ . : -"), "honeyswitch",
        'keys are "{prefix}:..." (one Redis Cluster hash slot)'),
    Key("connect_timeout", Number(0.01), 1.0, "seconds to connect to Redis"),
    Key("timeout", Number(0.01), 1.0, "a command slower than this counts as Redis being down"),
    Key("outbox", _count(100), 10_000, "decisions kept while Redis is down (docs/cluster.md)"),
    Key("request_timeout", Number(0.01), 3.0, "how long a switch asked of another host waits"),
    Key("sessions_interval", Number(0.01), 1.0, "seconds between publications of the live sessions"),
    Key("sessions_max", _count(1), 5_000, "sessions published per host (highest scores first)"),
    Key("decisions_maxlen", _count(1_000), 100_000, "entries kept in the decision stream"),
    Key("events", Bool(), True, "copy every event to the cluster's event stream"),
    Key("events_maxlen", _count(1_000), 100_000, "entries kept in the event stream"),
    Key("tombstone_ttl", Number(1.0), 86_400.0, "seconds a removal outranks adds decided before it"),
    Key("tls_ca", FilePath("file"), None, "rediss://: the CA to trust (default: the system's)"),
    Key("tls_cert", FilePath("file"), None, "rediss://: a client certificate, if Redis asks for one"),
    Key("tls_key", FilePath("file"), None, "its key"),
), doc="several hosts, one defence: blacklist, scores and switches shared through Redis")


def read_cluster(t: Table) -> ClusterConfig | None:
    """The settings of a validated ``[cluster]`` table, or None when no Redis is configured."""
    urls: tuple[str, ...] = t["redis"]
    if not urls:
        return None
    mode = t["mode"]
    if mode == "server" and len(urls) > 1:
        t.fail("redis", 'several addresses need mode = "sentinel" or "cluster"')
    if mode != "server" and any(urlsplit(u).scheme == "unix" for u in urls):
        t.fail("redis", f"mode = {mode!r} needs host:port addresses, not unix://")
    if mode == "sentinel" and not t["sentinel_service"]:
        t.fail("sentinel_service", 'is required with mode = "sentinel": the monitored master\'s name')
    if mode != "sentinel" and t.given("sentinel_service"):
        t.fail("sentinel_service", 'needs mode = "sentinel"')
    tls = all(urlsplit(u).scheme == "rediss" for u in urls)
    for key in ("tls_ca", "tls_cert", "tls_key"):
        if t[key] is not None and not tls:
            t.fail(key, "needs rediss:// addresses")
    if (t["tls_cert"] is None) != (t["tls_key"] is None):
        t.fail("tls_cert" if t["tls_cert"] is None else "tls_key", "tls_cert and tls_key go together")
    keys = ("mode", "password_file", "prefix", "connect_timeout", "timeout", "outbox", "request_timeout",
            "sessions_interval", "sessions_max", "decisions_maxlen", "events", "events_maxlen",
            "tombstone_ttl", "tls_ca", "tls_cert", "tls_key")
    return ClusterConfig(
        redis=urls, host=t["host"] or default_host(), sentinel_service=t["sentinel_service"] or "",
        sentinel_username=t["sentinel_username"] or "", sentinel_password=t["sentinel_password"] or "",
        **{key: t[key] for key in keys},
    )
