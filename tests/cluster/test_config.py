"""``[daemon]``: workers and shard, and every mistake as one line naming the key."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from honeyswitch.config import MAX_WORKERS, ConfigError, DaemonConfig, build

SVC = {"name": "web", "listen": "127.0.0.1:8400", "main": "tcp://127.0.0.1:8080", "honeypot": "tcp://127.0.0.1:8081"}


def load(**top: Any):  # type: ignore[no-untyped-def]
    return build({"service": [SVC], **top}, "hs.toml", Path("/etc/hs"))


def test_default_is_one_process_sharded_by_source():
    assert load().daemon == DaemonConfig(workers=1, shard="source")


def test_workers_and_shard():
    assert load(daemon={"workers": 4, "shard": "connection"}).daemon == DaemonConfig(4, "connection")
    assert load(daemon={"workers": "auto"}).daemon.workers == min(os.cpu_count() or 1, MAX_WORKERS)


@pytest.mark.parametrize("table,message", [
    ({"workers": 0}, "daemon.workers: must be \"auto\" or a number from 1 to 64, not 0"),
    ({"workers": 65}, "daemon.workers: must be"),
    ({"workers": True}, "daemon.workers: must be"),
    ({"workers": "many"}, "daemon.workers: must be"),
    ({"workers": 1.5}, "daemon.workers: must be int or str"),
    ({"shard": "random"}, "daemon.shard: must be one of 'source', 'connection'"),
    ({"threads": 2}, "daemon.threads: unknown key"),
])
def test_mistakes_name_the_key(table, message):
    with pytest.raises(ConfigError) as e:
        load(daemon=table)
    assert str(e.value).startswith("hs.toml: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_ids_feeds_need_source_sharding_with_several_workers(tmp_path):
    ids = [{"name": "suricata", "format": "suricata-eve", "path": str(tmp_path / "eve.json")}]
    with pytest.raises(ConfigError, match="daemon.shard: \\[\\[ids\\]\\] feeds with several workers"):
        load(daemon={"workers": 2, "shard": "connection"}, ids=ids)
    assert load(daemon={"workers": 2}, ids=ids).daemon.workers == 2
    assert load(daemon={"workers": 1, "shard": "connection"}, ids=ids).daemon.workers == 1
