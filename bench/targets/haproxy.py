"""HAProxy in TCP mode, one thread: what users would otherwise put in front of a service."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..procs import Proc, free_port, wait_port
from ..servers import Pair
from . import Target

CONFIG_HEAD = """\
global
    nbthread 1
    maxconn 9000
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
"""
SECTION = """\
frontend f_{kind}
    bind 127.0.0.1:{listen}
    default_backend b_{kind}
backend b_{kind}
    server main 127.0.0.1:{main}
"""


class HAProxy(Target):
    name = "haproxy"

    def __init__(self, pairs: dict[str, Pair], work: Path) -> None:
        super().__init__(pairs, work)
        self.proc: Proc | None = None
        self.ports = {kind: free_port() for kind in self.pairs if kind != "switch"}
        if shutil.which("haproxy") is None:
            self.available, self.note = False, "haproxy is not installed (make bench installs it)"

    def start(self) -> None:
        cfg = self.work / "haproxy.cfg"
        cfg.write_text(CONFIG_HEAD + "".join(
            SECTION.format(kind=k, listen=p, main=self.pairs[k].main.port) for k, p in self.ports.items()))
        self.proc = Proc("haproxy", ["haproxy", "-f", str(cfg), "-db"], self.work / "haproxy.log")
        for port in self.ports.values():
            wait_port(port, 15, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def port(self, kind: str) -> int:
        return self.ports[kind]

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []
