"""The CLI as an operator uses it: ``--json`` on every listing, ``honeyswitch top``
under a real pseudo-terminal, and attacker bytes never reaching the terminal raw."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from honeyswitch.cli.top import ENTER, LEAVE, frame
from honeyswitch.testing.daemon import HS, TOKEN, Daemon, echo_backends, write_config

HOSTILE = "\x1b]0;owned\x07\x1b[2J<b>x</b>\u009b31m"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_frame_escapes_and_fits(tmp_path: Path):
    data = {"health": {"version": "0.1.0", "workers": 1},
            "sessions": [{"session_id": f"s{i}", "service": "web", "src_ip": "198.18.32.5", "src_port": 1000 + i,
                          "state": "mirror", "score": i, "started": 0, "bytes_from_client": 1,
                          "bytes_main_to_client": 2, "bytes_from_honeypot": 3} for i in range(50)],
            "sources": [{"src_ip": "198.18.32.5", "score": 12.5}],
            "alerts": [{"timestamp": "2026-12-03T10:00:00", "src_ip": "198.18.32.5", "detector": "suricata",
                        "score": 10, "reason": HOSTILE}], "blacklist": 0}
    lines = frame(data, width=100, height=30, now=10)
    assert len(lines) <= 30 and all(len(line) <= 100 for line in lines)
    assert not any(CONTROL.search(line) for line in lines)
    assert lines[2].startswith("SESSION") and lines[3].startswith("s49")  # highest score first
    assert any("more" in line for line in lines)
    assert any("\\x1b]0;owned\\x07" in line for line in lines)


def test_frame_shows_the_cluster_and_the_other_hosts_parts():
    base = {"sessions": [], "alerts": [], "blacklist": 1}
    up = {"health": {"version": "0.1.0", "workers": 1,
                     "cluster": {"state": "up", "redis": "redis://198.18.48.2:6379", "outbox": 0,
                                 "nodes": {"a": {"state": "up", "last_error": None}}}},
          "sources": [{"src_ip": "198.18.32.5", "score": 120.0, "local": 60.0, "nodes": {"b": 60.0, HOSTILE: 0.5}},
                      {"src_ip": "198.18.32.6", "score": 5.0, "local": 5.0, "nodes": {}}], **base}
    lines = frame(up, width=200, height=30, now=10)
    assert lines[1] == "cluster up · redis redis://198.18.48.2:6379 · outbox 0"
    header = lines.index(next(line for line in lines if line.startswith("SOURCE")))
    assert lines[header].split() == ["SOURCE", "SCORE", "HERE", "OTHER", "HOSTS"]
    first, second = lines[header + 1], lines[header + 2]
    assert first.split()[:3] == ["198.18.32.5", "120.0", "60.0"] and first.split("  ")[-1].startswith("b 60.0, ")
    assert "\\x1b]0;owned" in first and not CONTROL.search(first)  # a host name is the other hosts' word
    assert second.rstrip().endswith("-")
    down = {**up, "health": {"version": "0.1.0", "workers": 2, "workers_up": 2,
                             "cluster": {"state": "down", "redis": "redis://198.18.48.2:6379", "outbox": 3,
                                         "outbox_dropped": 1,
                                         "nodes": {"a/w0": {"state": "down", "last_error": "ConnectionError: " + HOSTILE},
                                                   "a/w1": {"state": "down", "last_error": None}}}}}
    line = frame(down, width=300, height=30, now=10)[1]
    assert line.startswith("cluster down · redis redis://198.18.48.2:6379 · outbox 3 (1 removals lost) · ConnectionError: ")
    assert not CONTROL.search(line)
    plain = frame({**base, "health": {"version": "0.1.0", "workers": 1}, "sources": []}, now=10)
    assert plain[1] == "" and not any("cluster" in line for line in plain)


@pytest.fixture
def daemon(tmp_path: Path):
    """A daemon with one live session and an IDS alert whose text is hostile."""
    eve = tmp_path / "eve.json"
    eve.write_text("")
    with echo_backends() as (main, honeypot):
        cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, token=TOKEN)
        cfg.write_text(cfg.read_text() + f'\n[[ids]]\nname = "suricata"\nformat = "suricata-eve"\npath = "{eve}"\n')
        d = Daemon(cfg, api)
        client = socket.create_connection(("127.0.0.1", listen), timeout=5)
        client.sendall(b"hello")
        assert client.recv(100) == b"M:hello"
        with eve.open("a") as f:
            f.write(json.dumps({"timestamp": "2026-12-03T10:00:00.000000+0000", "event_type": "alert",
                                "proto": "TCP", "src_ip": "127.0.0.1", "src_port": client.getsockname()[1],
                                "dest_ip": "127.0.0.1", "dest_port": listen,
                                "alert": {"signature_id": 1, "signature": HOSTILE, "severity": 3}}) + "\n")
        deadline = time.monotonic() + 10
        while not d.api("GET", "/api/v1/alerts")["alerts"] and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            yield d
        finally:
            client.close()
            d.stop()


def test_every_listing_has_json(daemon: Daemon, tmp_path: Path):
    sid = daemon.api("GET", "/api/v1/sessions")["sessions"][0]["session_id"]
    daemon.api("POST", f"/api/v1/sessions/{sid}/switch", {})
    rules = Path(__file__).resolve().parents[2] / "honeyswitch/rules/default.rules"
    for argv in (["sessions"], ["blacklist", "list"], ["alerts"], ["incidents"], ["events"],
                 ["transcript", sid], ["rules", "check", str(rules)]):
        if argv[0] == "rules":
            res = subprocess.run([*HS, *argv, "--json"], capture_output=True, text=True, timeout=60)
        else:
            res = daemon.cli(*argv, "--json")
        assert res.returncode == 0, (argv, res.stderr)
        text = res.stdout.strip()
        parsed = json.loads(text) if text[:1] in "[{" and "\n{" not in text else \
            [json.loads(line) for line in text.splitlines()]
        assert parsed, argv
    out = daemon.cli("alerts").stdout  # the table: the reason escaped
    assert "\\x1b]0;owned\\x07" in out and not CONTROL.search(out.replace("\n", ""))


def _read_until(fd: int, wanted: bytes, timeout: float = 15.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while wanted not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
    return buf


def test_top_live_in_a_pty(daemon: Daemon):
    sid = daemon.api("GET", "/api/v1/sessions")["sessions"][0]["session_id"]
    once = daemon.cli("top", "--once").stdout
    assert sid in once and "\x1b" not in once and "\\x1b]0;owned" in once
    master, slave = pty.openpty()
    proc = subprocess.Popen([*HS, "top", "-c", str(daemon.config), "-n", "0.3"], stdin=slave, stdout=slave,
                            stderr=slave, env={**os.environ, "COLUMNS": "160", "LINES": "40"})
    os.close(slave)
    try:
        screen = _read_until(master, b"\\x1b]0;owned")
        assert screen.startswith(ENTER.encode()) and sid.encode() in screen
        assert b"\x1b]0;owned" not in screen  # the attacker's escape never raw
        daemon.api("POST", f"/api/v1/sessions/{sid}/switch", {})
        assert b"honeypot  " in _read_until(master, b"honeypot  ")  # redrawn with the new state
        proc.send_signal(signal.SIGINT)
        rest = _read_until(master, LEAVE.encode())
        assert proc.wait(10) == 0 and rest.endswith(LEAVE.encode())
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
