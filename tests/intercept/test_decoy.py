"""Decoy: a real redis-server on an isolated namespace "host", as a service's honeypot.
What an attacker writes there vanishes with `decoy down`, the real files never change,
and the decoy reaches nothing, not even after taking its own namespace apart."""
from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from nslab import Daemon, hs, write_config

from honeyswitch.intercept import decoynet
from honeyswitch.testing import netns, require
from honeyswitch.testing.procs import RedisServer

pytestmark = pytest.mark.root
MAIN = "198.18.1.2"
DECOY_IP = "198.18.100.2"
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)"


@pytest.fixture
def seeded_files(tmp_path):
    """A files directory holding a redis dump with one fake record, as a honeypot copy's
    data would be prepared."""
    require.program("redis-server")
    seed = RedisServer(tmp_path / "seed")
    try:
        netns.run(None, ["redis-cli", "-p", str(seed.port), "SET", "secret", "fake-but-plausible"])
        netns.run(None, ["redis-cli", "-p", str(seed.port), "SAVE"])
    finally:
        seed.stop()
    files = tmp_path / "files"
    files.mkdir()
    shutil.copy(tmp_path / "seed" / "dump.rdb", files / "dump.rdb")
    return files


def cli(ns: str, *args: str) -> str:
    return netns.run(ns, ["redis-cli", "-h", DECOY_IP, *args]).stdout.strip()


def inline(sock, command: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """One redis inline command; the replies here are whole in one read or two."""
    sock.sendall(command + b"\r\n")
    data = sock.recv(4096)
    if data.startswith(b"$") and not data.startswith(b"$-1") and data.count(b"\r\n") < 2:
        data += sock.recv(4096)
    return data


def reaches(ns: str, host: str, port: int) -> bool:
    return netns.run(ns, [sys.executable, "-c", CONNECT, host, str(port)], check=False).returncode == 0


def test_decoy_writes_vanish_and_it_reaches_nothing(lab, tmp_path, seeded_files):
    require.program("redis-cli")
    name = f"cache{os.getpid() % 100000}"
    lab.extra_ns.append(decoynet.netns(name))  # removed even if the test fails half-way
    host, main = lab.ns("dhost"), lab.ns("dmain")
    lab.link(host, "198.18.1.1/30", main, f"{MAIN}/30")
    lab.route(main, "default", "198.18.1.1")
    lab.forwarding(host)
    lab.spawn(main, [require.program("redis-server"), "--port", "6379", "--bind", "0.0.0.0", "--save", "",
                     "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp_path)])
    netns.wait_port(main, (MAIN, 6379))
    original = (seeded_files / "dump.rdb").read_bytes()
    cfg = write_config(tmp_path / "hs.toml", [{
        "name": "cache", "listen": "127.0.0.1:6380", "main": f"tcp://{MAIN}:6379",
        "honeypot": f"decoy:{name}:6379", "align": "quiet",
    }], decoy=[{
        "name": name, "address": f"{DECOY_IP}/30", "files": str(seeded_files),
        "command": "redis-server --port 6379 --bind 0.0.0.0 --protected-mode no --save '' "
                   "--appendonly no --dir . --dbfilename dump.rdb",
        "memory": "512MiB", "pids": 64, "cpu": 0.5,
    }])

    out = hs(host, cfg, "decoy", "up", name).stdout
    assert f"decoy {name} up: {DECOY_IP}" in out
    netns.wait_port(host, (DECOY_IP, 6379))
    status = json.loads(hs(host, cfg, "decoy", "status", name, "--json").stdout)[0]
    assert status["state"] == "up" and status["files"] in ("overlay", "copy")
    assert set(status["limits"]) == {"memory", "pids", "cpu"}

    # The decoy is the service's honeypot: a session switched there sees the prepared
    # fake data, and the attacker's writes land in the decoy.
    daemon = Daemon(lab, host, cfg)
    with netns.connect(host, ("127.0.0.1", 6380)) as sock:
        assert inline(sock, b"GET secret") == b"$-1\r\n"  # main has no such thing
        daemon.cli("switch", "--client", "127.0.0.1")
        assert inline(sock, b"GET secret") == b"$18\r\nfake-but-plausible\r\n"
        assert inline(sock, b"SET planted attacker-was-here") == b"+OK\r\n"
        assert inline(sock, b"SAVE") == b"+OK\r\n"
    assert cli(host, "GET", "planted") == "attacker-was-here"
    assert (seeded_files / "dump.rdb").read_bytes() == original  # the real files never change

    # No route to main's network; with one added (root inside the decoy), its own rules
    # stop it; with those deleted too, the host's rules do.
    ns = decoynet.netns(name)
    assert reaches(host, MAIN, 6379)
    assert not reaches(ns, MAIN, 6379)
    netns.run(ns, ["ip", "route", "add", "default", "via", "198.18.100.1"])
    assert not reaches(ns, MAIN, 6379)
    netns.run(ns, ["nft", "delete", "table", "inet", "honeyswitch"])
    assert not reaches(ns, MAIN, 6379)
    assert not reaches(ns, "198.18.100.1", 22)

    assert "down" in hs(host, cfg, "decoy", "down", name).stdout
    assert not netns.ns_exists(ns)
    assert not (tmp_path / "state" / "decoys" / name).exists()
    assert json.loads(hs(host, cfg, "decoy", "status", name, "--json").stdout)[0]["state"] == "down"
    assert sorted(p.name for p in seeded_files.iterdir()) == ["dump.rdb"]
    assert (seeded_files / "dump.rdb").read_bytes() == original

    # Up again: the attacker's writes are gone, the prepared data is back.
    hs(host, cfg, "decoy", "up", name)
    netns.wait_port(host, (DECOY_IP, 6379))
    assert cli(host, "GET", "planted") == ""
    assert cli(host, "GET", "secret") == "fake-but-plausible"
    hs(host, cfg, "decoy", "down", name)
    assert "was not up" in hs(host, cfg, "decoy", "down", name).stdout
