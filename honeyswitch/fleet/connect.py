"""Redis clients for ``[cluster]``: one server (``redis://``, ``rediss://``, ``unix://``),
a Sentinel-monitored master, or a Redis Cluster, all through redis-py's asyncio API.

Two clients per process: ``cmd`` for ordinary commands, whose timeout is ``timeout`` (a
slower answer counts as Redis being down), and ``block`` for the blocking stream reads,
whose socket timeout also covers the time a read waits for news.  redis-py's own retries
are off: the sync component has one reconnect loop with backoff, and a command must fail
fast so that the daemon learns of the outage in ``timeout`` seconds, not several times it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .config import ClusterConfig

BLOCK_MS = 1000  # how long a stream read waits for news before it asks again


@dataclass(slots=True)
class Clients:
    cmd: Any  # redis.asyncio.Redis or RedisCluster
    block: Any

    async def close(self) -> None:
        for client in (self.cmd, self.block):
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
                pass

    async def reset(self) -> None:
        """Drop every pooled connection (the clients connect again at their next command).

        After an outage each loop's pooled connection is dead: without this each would
        fail once in turn when Redis is back, and one outage would look like several."""
        for client in (self.cmd, self.block):
            pool = getattr(client, "connection_pool", None)  # a Cluster client: its nodes'
            try:
                await (pool.disconnect() if pool is not None else client.aclose())
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
                pass


def _password(cfg: ClusterConfig) -> str | None:
    if cfg.password_file is None:
        return None
    try:
        return Path(cfg.password_file).read_text().strip()
    except OSError as e:
        raise ValueError(f"cluster.password_file: cannot read {cfg.password_file}: {e.strerror or e}") from None


def _tls(cfg: ClusterConfig) -> dict[str, Any]:
    if not cfg.tls:
        return {}
    out: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if cfg.tls_ca is not None:
        out["ssl_ca_certs"] = str(cfg.tls_ca)
    if cfg.tls_cert is not None:
        out["ssl_certfile"], out["ssl_keyfile"] = str(cfg.tls_cert), str(cfg.tls_key)
    return out


def _common(cfg: ClusterConfig, node: str, socket_timeout: float) -> dict[str, Any]:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {"socket_timeout": socket_timeout, "socket_connect_timeout": cfg.connect_timeout,
            "retry": Retry(NoBackoff(), 0), "client_name": f"honeyswitch:{node}"[:100].replace(" ", "_")}


def _auth(url: str, cfg: ClusterConfig) -> dict[str, Any]:
    parts = urlsplit(url)
    out: dict[str, Any] = {}
    if parts.username:
        out["username"] = unquote(parts.username)
    password = _password(cfg)
    if password is None and parts.password is not None:
        password = unquote(parts.password)
    if password is not None:
        out["password"] = password
    return out


def make_clients(cfg: ClusterConfig, node: str) -> Clients:
    """The two clients for ``cfg`` (they connect lazily, at their first command)."""
    block_timeout = cfg.timeout + BLOCK_MS / 1000
    if cfg.mode == "sentinel":
        return Clients(_sentinel(cfg, node, cfg.timeout), _sentinel(cfg, node, block_timeout))
    if cfg.mode == "cluster":
        return Clients(_cluster(cfg, node, cfg.timeout), _cluster(cfg, node, block_timeout))
    from redis.asyncio import Redis

    url, kwargs = cfg.redis[0], {**_common(cfg, node, cfg.timeout), **_tls(cfg)}
    password = _password(cfg)
    if password is not None:  # from_url prefers the URL's password to a keyword's
        url, kwargs["password"] = _without_password(url), password
    block_kwargs = {**kwargs, "socket_timeout": block_timeout}
    return Clients(Redis.from_url(url, **kwargs), Redis.from_url(url, **block_kwargs))


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username or ''}@{parts.netloc.rpartition('@')[2]}").geturl()


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or 6379


def _db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def _sentinel(cfg: ClusterConfig, node: str, socket_timeout: float) -> Any:
    from redis.asyncio.sentinel import Sentinel

    common = _common(cfg, node, socket_timeout)
    tls = _tls(cfg)
    sentinel_kwargs: dict[str, Any] = {k: v for k, v in common.items() if k != "client_name"} | tls
    if tls:
        sentinel_kwargs["ssl"] = True
    if cfg.sentinel_username:
        sentinel_kwargs["username"] = cfg.sentinel_username
    if cfg.sentinel_password:
        sentinel_kwargs["password"] = cfg.sentinel_password
    master_kwargs = {**common, **tls, **_auth(cfg.redis[0], cfg), "db": _db(cfg.redis[0])}
    if tls:
        master_kwargs["ssl"] = True
    sentinel = Sentinel([_hostport(u) for u in cfg.redis], sentinel_kwargs=sentinel_kwargs,
                        socket_timeout=socket_timeout, socket_connect_timeout=cfg.connect_timeout)
    return sentinel.master_for(cfg.sentinel_service, **master_kwargs)


def _cluster(cfg: ClusterConfig, node: str, socket_timeout: float) -> Any:
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    tls = _tls(cfg)
    kwargs = {**_common(cfg, node, socket_timeout), **tls, **_auth(cfg.redis[0], cfg)}
    if tls:
        kwargs["ssl"] = True
    nodes = [ClusterNode(*_hostport(u)) for u in cfg.redis]
    return RedisCluster(startup_nodes=nodes, require_full_coverage=False, **kwargs)
