"""``[cluster]``: parsed into ClusterConfig, every problem one line naming the key."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fleetlab import cluster_config

from honeyswitch.config import ConfigError, _Reader
from honeyswitch.fleet.config import CLUSTER_KEYS, default_host, read_cluster, redact


def test_defaults(tmp_path: Path) -> None:
    cfg = cluster_config(tmp_path, redis="redis://10.0.0.5:6379/2")
    assert cfg.redis == ("redis://10.0.0.5:6379/2",) and cfg.mode == "server"
    assert cfg.host == default_host() and cfg.prefix == "honeyswitch" and cfg.outbox == 10_000
    assert cfg.node() == cfg.host and cfg.node(3) == f"{cfg.host}/w3"
    assert not cfg.tls


def test_no_table_or_empty_redis_is_standalone(tmp_path: Path) -> None:
    assert read_cluster(_Reader("t.toml", "cluster", {}, CLUSTER_KEYS), tmp_path) is None
    assert read_cluster(_Reader("t.toml", "cluster", {"redis": ""}, CLUSTER_KEYS), tmp_path) is None


def test_tls_sentinel_and_cluster(tmp_path: Path) -> None:
    cfg = cluster_config(tmp_path, redis="rediss://hs:pw@r.example:6380", tls_ca="ca.pem",
                         tls_cert="/etc/c.pem", tls_key="k.pem", host="gw-1", prefix="site-a")
    assert cfg.tls and cfg.tls_ca == tmp_path / "ca.pem" and cfg.tls_cert == Path("/etc/c.pem")
    assert cfg.shown() == "rediss://hs:***@r.example:6380"
    s = cluster_config(tmp_path, redis=["redis://s1:26379", "redis://s2:26379"], mode="sentinel",
                       sentinel_service="mymaster")
    assert s.redis == ("redis://s1:26379", "redis://s2:26379")
    c = cluster_config(tmp_path, redis=["redis://n1:7000", "redis://n2:7000"], mode="cluster")
    assert c.mode == "cluster"


def test_redact_keeps_addresses_without_passwords() -> None:
    assert redact("redis://10.0.0.1:6379") == "redis://10.0.0.1:6379"
    assert redact("redis://:secret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"


@pytest.mark.parametrize("table,message", [
    ({"redis": "http://x"}, "cluster.redis: scheme must be redis://, rediss:// or unix://, not 'http'"),
    ({"redis": 6379}, "cluster.redis: must be str or list, not int 6379"),
    ({"redis": ["redis://a:1", 2]}, "cluster.redis: must be a URL or a list of URLs, not int 2"),
    ({"redis": [""]}, "cluster.redis: lists no address"),
    ({"redis": "redis://:pw@"}, "cluster.redis: 'redis://:***@' names no host"),
    ({"redis": "redis://h:99999"}, "cluster.redis: 'redis://h:99999': Port out of range 0-65535"),
    ({"redis": "redis://h:6379/x"}, "cluster.redis: 'redis://h:6379/x': the path must be a database number, not 'x'"),
    ({"redis": "unix://relative"}, "cluster.redis: unix:// needs an absolute socket path"),
    ({"redis": ["redis://a:1", "redis://b:1"]}, 'cluster.redis: several addresses need mode = "sentinel" or "cluster"'),
    ({"redis": "unix:///run/r.sock", "mode": "cluster"}, "cluster.redis: mode = 'cluster' needs host:port addresses"),
    ({"redis": "redis://a:1", "mode": "sentinel"}, "cluster.sentinel_service: is required with mode = \"sentinel\""),
    ({"redis": "redis://a:1", "sentinel_service": "m"}, 'cluster.sentinel_service: needs mode = "sentinel"'),
    ({"redis": "redis://a:1", "mode": "ha"}, "cluster.mode: must be one of 'server', 'sentinel', 'cluster', not 'ha'"),
    ({"redis": "redis://a:1", "host": "a b"}, "cluster.host: must be 1-63 of A-Z a-z 0-9 _ . -"),
    ({"redis": "redis://a:1", "prefix": "{x}"}, "cluster.prefix: must be 1-64 of A-Z a-z 0-9 _ . : -, not '{x}'"),
    ({"redis": "redis://a:1", "timeout": 0}, "cluster.timeout: must be > 0"),
    ({"redis": "redis://a:1", "timeout": True}, "cluster.timeout: must be a number, not True"),
    ({"redis": "redis://a:1", "outbox": 10}, "cluster.outbox: must be >= 100, not 10"),
    ({"redis": "redis://a:1", "outbox": 1.5}, "cluster.outbox: must be int, not float 1.5"),
    ({"redis": "redis://a:1", "tls_ca": "ca.pem"}, "cluster.tls_ca: needs rediss:// addresses"),
    ({"redis": "rediss://a:1", "tls_cert": "c.pem"}, "cluster.tls_key: tls_cert and tls_key go together"),
    ({"redis": "redis://a:1", "events": "yes"}, "cluster.events: must be bool, not str 'yes'"),
    ({"redis": "redis://a:1", "colour": 1}, "cluster.colour: unknown key (known: connect_timeout"),
])
def test_errors_are_one_line_naming_the_key(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        read_cluster(_Reader("t.toml", "cluster", table, CLUSTER_KEYS), tmp_path)
    text = str(e.value)
    assert "\n" not in text and text.startswith("t.toml: ") and message in text, text
    assert "secret" not in text and ":pw@" not in text
