"""``[cluster]``: declared keys parsed into ClusterConfig, every problem one line naming
the key; environment overrides; the reference block of docs/cluster.md."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fleetlab import cluster_config

from honeyswitch.fleet.config import CLUSTER, default_host, read_cluster, redact
from honeyswitch.schema import ConfigError, env_overrides, read, reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cluster.md"


def parse(table: dict[str, Any], base: Path) -> Any:
    return read_cluster(read(CLUSTER, table, "t.toml", "cluster", base))


def test_defaults(tmp_path: Path) -> None:
    cfg = cluster_config(tmp_path, redis="redis://10.0.0.5:6379/2")
    assert cfg.redis == ("redis://10.0.0.5:6379/2",) and cfg.mode == "server"
    assert cfg.host == default_host() and cfg.prefix == "honeyswitch" and cfg.outbox == 10_000
    assert cfg.node() == cfg.host and cfg.node(3) == f"{cfg.host}/w3"
    assert not cfg.tls and cfg.timeout == 1.0 and cfg.events


def test_no_table_or_empty_redis_is_standalone(tmp_path: Path) -> None:
    assert parse({}, tmp_path) is None
    assert parse({"redis": ""}, tmp_path) is None


def test_tls_sentinel_and_cluster(tmp_path: Path) -> None:
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("x")
    cfg = cluster_config(tmp_path, redis="rediss://hs:pw@r.example:6380", tls_ca="ca.pem",
                         tls_cert=str(tmp_path / "c.pem"), tls_key="k.pem", host="gw-1", prefix="site-a")
    assert cfg.tls and cfg.tls_ca == tmp_path / "ca.pem" and cfg.tls_cert == tmp_path / "c.pem"
    assert cfg.shown() == "rediss://hs:***@r.example:6380" and "pw" not in repr(cfg.shown())
    s = cluster_config(tmp_path, redis=["redis://s1:26379", "redis://s2:26379"], mode="sentinel",
                       sentinel_service="mymaster", sentinel_password="sp")
    assert s.redis == ("redis://s1:26379", "redis://s2:26379") and s.sentinel_password == "sp"
    assert "sp" not in repr(s)
    c = cluster_config(tmp_path, redis=["redis://n1:7000", "redis://n2:7000"], mode="cluster")
    assert c.mode == "cluster"


def test_environment_overrides(tmp_path: Path) -> None:
    data: dict[str, Any] = {}
    env_overrides([CLUSTER], data, {"HONEYSWITCH_CLUSTER_REDIS": "redis://a:1,redis://b:1",
                                    "HONEYSWITCH_CLUSTER_MODE": "cluster", "HONEYSWITCH_CLUSTER_OUTBOX": "500",
                                    "HONEYSWITCH_CLUSTER_EVENTS": "no"})
    cfg = parse(data["cluster"], tmp_path)
    assert (cfg.redis, cfg.mode, cfg.outbox, cfg.events) == (("redis://a:1", "redis://b:1"), "cluster", 500, False)


def test_redact_keeps_addresses_without_passwords() -> None:
    assert redact("redis://10.0.0.1:6379") == "redis://10.0.0.1:6379"
    assert redact("redis://:secret@10.0.0.1:6379/0") == "redis://:***@10.0.0.1:6379/0"


@pytest.mark.parametrize("table,message", [
    ({"redis": "http://x"}, "cluster.redis: scheme must be redis://, rediss:// or unix://, not 'http'"),
    ({"redis": 6379}, "cluster.redis: must be a URL or a list of URLs, not int 6379"),
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
    ({"redis": "redis://a:1", "timeout": 0}, "cluster.timeout: must be >= 0.01, not 0"),
    ({"redis": "redis://a:1", "timeout": True}, "cluster.timeout: must be a number, not True"),
    ({"redis": "redis://a:1", "outbox": 10}, "cluster.outbox: must be an integer 100-"),
    ({"redis": "redis://a:1", "outbox": 1.5}, "cluster.outbox: must be int, not float 1.5"),
    ({"redis": "redis://a:1", "tls_ca": "/etc/hostname"}, "cluster.tls_ca: needs rediss:// addresses"),
    ({"redis": "rediss://a:1", "tls_ca": "nope.pem"}, "cluster.tls_ca: "),
    ({"redis": "rediss://a:1", "tls_cert": "/etc/hostname"}, "cluster.tls_key: tls_cert and tls_key go together"),
    ({"redis": "redis://a:1", "events": "yes"}, "cluster.events: must be bool, not str 'yes'"),
    ({"redis": "redis://a:1", "colour": 1}, "cluster.colour: unknown key (known: connect_timeout"),
])
def test_errors_are_one_line_naming_the_key(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(table, tmp_path)
    text = str(e.value)
    assert "\n" not in text and text.startswith("t.toml: ") and message in text, text
    assert "secret" not in text and ":pw@" not in text


def test_the_doc_shows_the_declared_keys() -> None:
    block = re.search(r"```toml\n(# several hosts.*?)```", DOC.read_text(), re.S)
    assert block, "docs/cluster.md has no reference block"
    assert block.group(1) == reference([CLUSTER]), "paste reference([CLUSTER]) into docs/cluster.md"
