"""The shipped logrotate snippet loses no event: the event log is rotated by the real
logrotate, several times, while clients keep connecting, and every session's start and
end is found exactly once across the current and the rotated (and compressed) files."""
from __future__ import annotations

import gzip
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from honeyswitch.testing.daemon import Daemon, echo_backends, write_config

SNIPPET = Path(__file__).resolve().parents[2] / "packaging/logrotate/honeyswitch"
SESSIONS = 240  # bounded load: this many connections, as fast as they go
ROTATIONS = 3

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed")]


def snippet_for(log: Path, pid: int) -> str:
    """The shipped snippet for ``log``, as root, signalling ``pid`` as systemctl reload would."""
    text = SNIPPET.read_text()
    assert "systemctl reload honeyswitch.service" in text and "/var/log/honeyswitch/events.jsonl" in text
    return (text.replace("/var/log/honeyswitch/events.jsonl", str(log))
            .replace("su honeyswitch honeyswitch", "su root root")
            .replace("systemctl reload honeyswitch.service", f"kill -HUP {pid}"))


def _load(port: int, count: int, errors: list[str]) -> None:
    for i in range(count):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"ping %d\n" % i)
                c.recv(100)
        except OSError as e:
            errors.append(str(e))
        time.sleep(0.005)


def _events(log: Path) -> list[dict]:
    out = []
    for path in sorted(log.parent.glob(log.name + "*")):
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        out += [json.loads(line) for line in raw.splitlines()]
    return out


def test_rotation_under_load_keeps_every_event(tmp_path: Path):
    with echo_backends() as (main, honeypot):
        cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, token="test-token")
        daemon = Daemon(cfg, api)
        log = tmp_path / "log/events.jsonl"
        conf = tmp_path / "logrotate.conf"
        conf.write_text(snippet_for(log, daemon.proc.pid))
        errors: list[str] = []
        load = threading.Thread(target=_load, args=(listen, SESSIONS, errors))
        try:
            load.start()
            for _ in range(ROTATIONS):
                time.sleep(0.4)
                subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "logrotate.state"), str(conf)], check=True,
                               timeout=30)
            load.join(60)
            deadline = time.monotonic() + 10
            while daemon.api("GET", "/api/v1/health")["sessions"] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            daemon.stop()
    assert not errors
    files = sorted(p.name for p in log.parent.iterdir())
    assert len(files) == ROTATIONS + 1 and any(f.endswith(".gz") for f in files), files
    events = _events(log)
    for kind in ("session_start", "session_end"):
        ids = [e["session_id"] for e in events if e["event_type"] == kind]
        assert len(ids) == len(set(ids)) == SESSIONS, (kind, len(ids), files)
    reloads = [e for e in events if e["event_type"] == "config_reload"]
    assert len(reloads) == ROTATIONS and all(e["ok"] for e in reloads)
