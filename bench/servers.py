"""The backends: a main and a honeypot server for each kind of traffic.

``bulk``: iperf3 servers (C, fast: the bench measures the proxy, not the sink).
``echo``: our echo server (ping-pong and idle sessions).
``http``: nginx, 1 worker, a tiny static body (new connections per second with wrk).
``switch``: echo servers that answer ordinary requests alike (``M:``), so honeyswitch
keeps ``bytes`` alignment, and ``?`` probes differently (main ``M:``, honeypot ``H:``),
so the client can tell who answered; main reports the RST it gets at a switch.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from honeyswitch.testing import nginx

from .procs import REPO, Proc, children, free_port, wait_port

PY = sys.executable
KINDS = ("bulk", "echo", "http", "switch")


@dataclass
class Server:
    name: str
    port: int
    proc: Proc
    extra: list[Proc] = field(default_factory=list)

    def pids(self) -> list[int]:
        """The processes doing the work (nginx: the worker, not the master)."""
        kids = children(self.proc.pid)
        return kids or [self.proc.pid]


@dataclass
class Pair:
    kind: str
    main: Server
    honeypot: Server

    def pids(self) -> list[int]:
        return self.main.pids() + self.honeypot.pids()


NGINX_SERVER = """\
        listen 127.0.0.1:{port} backlog=8192;
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
"""


def _iperf3(name: str, work: Path) -> Server:
    port = free_port()
    proc = Proc(name, ["iperf3", "-s", "-p", str(port), "-B", "127.0.0.1"], work / f"{name}.log")
    wait_port(port, 10, proc)
    return Server(name, port, proc)


def _echo(name: str, work: Path, prefix: str = "", mark: str = "", report: bool = False) -> Server:
    port = free_port()
    argv = [PY, "-m", "bench.tools.echo", "--port", str(port), "--prefix", prefix, "--mark", mark]
    if report:
        argv.append("--report-resets")
    proc = Proc(name, argv, work / f"{name}.log", pipe=True, cwd=REPO)
    if not proc.line(15).startswith("ready"):
        raise RuntimeError(f"{name} did not start; {proc.tail()}")
    return Server(name, port, proc)


def _nginx(name: str, work: Path) -> Server:
    port = free_port()
    d = work / name
    d.mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(nginx.config(d, NGINX_SERVER.format(port=port), connections=16384, error_level="warn"))
    proc = Proc(name, nginx.argv(d, conf), work / f"{name}.log")
    wait_port(port, 10, proc)
    return Server(name, port, proc)


def start_pair(kind: str, work: Path) -> Pair:
    if kind == "bulk":
        return Pair(kind, _iperf3("bulk-main", work), _iperf3("bulk-honeypot", work))
    if kind == "echo":
        return Pair(kind, _echo("echo-main", work), _echo("echo-honeypot", work))
    if kind == "http":
        return Pair(kind, _nginx("http-main", work), _nginx("http-honeypot", work))
    if kind == "switch":
        return Pair(kind, _echo("switch-main", work, "M:", report=True),
                    _echo("switch-honeypot", work, "M:", mark="H:"))
    raise ValueError(f"unknown backend kind {kind!r}")
