"""The real daemon as a process: CLI commands, signals, restart, bad config."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from honeyswitch.testing.daemon import HS as _HS
from honeyswitch.testing.daemon import Daemon, echo_backends, write_config

HS = list(_HS)


@pytest.fixture
def backends():
    """Echo servers as main and honeypot, each in a thread of its own event loop."""
    with echo_backends() as pair:
        yield pair


def talk(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    sock.settimeout(5)
    return sock.recv(4096)


def test_cli_sessions_switch_and_blacklist(tmp_path, backends):
    main, honeypot = backends
    cfg, listen, api = write_config(tmp_path, main.port, honeypot.port)
    daemon = Daemon(cfg, api)
    try:
        client = socket.create_connection(("127.0.0.1", listen))
        assert talk(client, b"hi") == b"M:hi"
        out = daemon.cli("sessions", "--json").stdout
        sessions = json.loads(out)
        assert len(sessions) == 1 and sessions[0]["state"] == "mirror"
        sid = sessions[0]["session_id"]
        assert f"switched {sid}" in daemon.cli("switch", sid).stdout
        assert talk(client, b"x") == b"H:x"
        client.close()
        listed = json.loads(daemon.cli("blacklist", "list", "--json").stdout)
        assert [e["ip"] for e in listed] == ["127.0.0.1"]
        daemon.cli("blacklist", "add", "198.18.0.7", "--ttl", "60", "--reason", "scanner")
        assert "198.18.0.7" in daemon.cli("blacklist", "list").stdout
        assert "198.18.0.7" in daemon.cli("blacklist", "export", "--format", "nft").stdout
        daemon.cli("blacklist", "remove", "127.0.0.1")
        bad = daemon.cli("blacklist", "add", "not-an-ip", check=False)
        assert bad.returncode == 1 and "not an IP address" in bad.stderr
        missing = daemon.cli("switch", "ffffffffffff", check=False)
        assert missing.returncode == 1 and "404" in missing.stderr
    finally:
        daemon.stop()
    transcript = daemon.cli("transcript", sid).stdout
    assert "SWITCH" in transcript and "H:x" in transcript


def test_switch_signal_switches_every_mirrored_session(tmp_path, backends):
    main, honeypot = backends
    cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, switch_signal="HUP")
    daemon = Daemon(cfg, api)
    try:
        a = socket.create_connection(("127.0.0.1", listen))
        b = socket.create_connection(("127.0.0.1", listen))
        assert talk(a, b"1") == b"M:1" and talk(b, b"2") == b"M:2"
        os.kill(daemon.proc.pid, signal.SIGHUP)  # as in the original design: kill -HUP
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            states = {s["state"] for s in json.loads(daemon.cli("sessions", "--json").stdout)}
            if states == {"honeypot"}:
                break
            time.sleep(0.05)
        assert states == {"honeypot"}
        assert talk(a, b"3") == b"H:3" and talk(b, b"4") == b"H:4"
        a.close()
        b.close()
    finally:
        daemon.stop()


def test_blacklist_and_records_survive_a_restart(tmp_path, backends):
    main, honeypot = backends
    cfg, listen, api = write_config(tmp_path, main.port, honeypot.port)
    daemon = Daemon(cfg, api)
    daemon.cli("blacklist", "add", "127.0.0.1", "--reason", "before restart")
    daemon.stop()
    daemon = Daemon(cfg, api)
    try:
        client = socket.create_connection(("127.0.0.1", listen))
        assert talk(client, b"z") == b"H:z"  # DIRECT: straight to the honeypot
        client.close()
        assert "before restart" in daemon.cli("blacklist", "list").stdout
    finally:
        daemon.stop()
    events = [json.loads(line) for line in (tmp_path / "log/events.jsonl").read_text().splitlines()]
    kinds = [e["event_type"] for e in events]
    assert kinds.count("daemon_start") == 2 and kinds.count("daemon_stop") == 2
    assert any(e["event_type"] == "session_start" and e["state"] == "direct" for e in events)
    stored = daemon.cli("events", "--type", "blacklist_add").stdout
    assert "before restart" in stored


@pytest.mark.parametrize(
    "body, message",
    [
        ('[[service]]\nname = "x"\nlisten = "127.0.0.1:1"\nmain = "tcp://h:1"\n', "service[0].honeypot: is required"),
        ('[[service]]\nname = "x"\nlisten = "nope"\nmain = "tcp://a:1"\nhoneypot = "tcp://a:2"\n', "service[0].listen:"),
        ('[[service]]\nname = "x"\nlisten = "127.0.0.1:1"\nmain = "ftp://a:1"\nhoneypot = "tcp://a:2"\n', "service[0].main:"),
        ("[store\n", "TOML syntax"),
        ('[control]\nswitch_signal = "KILL"\n[[service]]\nname="x"\nlisten="127.0.0.1:1"\nmain="tcp://a:1"\nhoneypot="tcp://a:2"\n', "control.switch_signal"),
    ],
)
def test_bad_config_is_one_clear_line_and_exit_2(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    for command in ("run", "check"):
        res = subprocess.run(HS + [command, "-c", str(path)], capture_output=True, text=True, timeout=30)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert str(path) in lines[0] and message in lines[0]


def test_check_accepts_a_good_config(tmp_path):
    cfg, _, _ = write_config(tmp_path, 1, 2)
    res = subprocess.run(HS + ["check", "-c", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stdout.strip().endswith("OK")
