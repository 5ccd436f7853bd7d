"""Helpers of the namespace tests: config files, honeyswitch run inside a namespace
(daemon and CLI), throw-away nginx instances, a tiny HTTP/1.1 client."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from honeyswitch.testing import netns, nginx

HS = [sys.executable, "-m", "honeyswitch"]


def toml_value(value: Any) -> str:
    return json.dumps(value)  # JSON strings, numbers, booleans and lists are TOML too


def write_config(path: Path, services: list[dict[str, Any]], **sections: dict[str, Any]) -> Path:
    """A config file with state under ``path``'s directory and the given tables."""
    base = path.parent
    lines = []
    for svc in services:
        lines.append("[[service]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in svc.items()]
    tables = {
        "store": {"path": str(base / "state" / "honeyswitch.db")},
        "events": {"path": str(base / "events.jsonl")},
        "transcripts": {"dir": str(base / "transcripts")},
        "control": {"listen": "127.0.0.1:8439", "token": "test-token"},
        **sections,
    }
    for name, table in tables.items():
        if name == "decoy":
            for d in table:  # type: ignore[attr-defined]
                lines.append("[[decoy]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in d.items()]
            continue
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def hs(ns: str | None, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``honeyswitch ARGS -c CONFIG`` inside ``ns``."""
    return netns.run(ns, [*HS, *args, "-c", str(config)], check=check, timeout=60)


class Daemon:
    """``honeyswitch run`` inside a namespace; its control API on 127.0.0.1:8439 there."""

    def __init__(self, lab: netns.Lab, ns: str, config: Path) -> None:
        self.ns, self.config = ns, config
        self.log = config.parent / "daemon.log"
        self.proc = lab.spawn(ns, [*HS, "run", "-c", str(config)], log=self.log)
        try:
            netns.wait_port(ns, ("127.0.0.1", 8439), timeout=20)
        except TimeoutError:
            raise AssertionError(f"daemon did not start: {self.log.read_text()[-2000:]}") from None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return hs(self.ns, self.config, *args)

    def events(self, event_type: str) -> list[dict[str, Any]]:
        path = self.config.parent / "events.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if event["event_type"] == event_type:
                out.append(event)
        return out

    def wait_event(self, event_type: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(event_type)
            if found:
                return found[0]
            time.sleep(0.05)
        raise TimeoutError(f"no {event_type} event after {timeout}s; log: {self.log.read_text()[-1500:]}")


NGINX_HTTP = """\
    log_format real '$proxy_protocol_addr $remote_addr "$request" $status';
    keepalive_timeout 60s;
"""
NGINX_SERVER = """\
        listen {listen} proxy_protocol;
        access_log {dir}/access.log real;
        location / {{ default_type text/plain; return 200 "{body}\\n"; }}
"""


def start_nginx(lab: netns.Lab, ns: str, workdir: Path, listen: str, body: str) -> Path:
    """An nginx of our own (never the system's) in ``ns``; returns its directory."""
    workdir.mkdir(parents=True)
    conf = workdir / "nginx.conf"
    server = NGINX_SERVER.format(dir=workdir, listen=listen, body=body)
    conf.write_text(nginx.config(workdir, server, http=NGINX_HTTP, connections=64))
    lab.spawn(ns, nginx.argv(workdir, conf), log=workdir / "stderr.log")
    host, _, port = listen.rpartition(":")
    netns.wait_port(ns, (host, int(port)))
    return workdir


def http_get(sock: Any, path: str = "/") -> bytes:
    """One keep-alive request on ``sock``; returns the body (the responses are tiny)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return body
