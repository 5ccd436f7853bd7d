"""TLS-terminating configurations with the same certificates, for the TLS cases:

``tls-haproxy``  HAProxy 2.6, TCP mode, one thread, ``bind ... ssl crt``: TLS ends there,
                 plaintext to main.
``tls-hs``       honeyswitch with ``tls`` on every service, MIRROR to main and honeypot
                 (plaintext), no inline detectors.

Each has three listeners: ``echo`` (ECDSA P-256) in front of the echo pair, ``http-ec``
and ``http-rsa`` (ECDSA P-256, RSA-2048) in front of the nginx pair.  The certificates
are made per run (:mod:`honeyswitch.testing.certs`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..procs import Proc, free_port, wait_port
from ..servers import Pair
from . import Target, count_events
from .honeyswitch import COMMON, HS, TOKEN

LISTENERS = {"echo": ("echo", "ec"), "http-ec": ("http", "ec"), "http-rsa": ("http", "rsa")}


def make_certs(work: Path) -> dict[str, tuple[Path, Path, Path]]:
    """(cert chain, key, cert+key in one file for HAProxy) per key type."""
    from honeyswitch.testing.certs import CertAuthority

    ca = CertAuthority(work / "pki")
    out = {}
    for kind in ("ec", "rsa"):
        issued = ca.issue("bench.test", names=("127.0.0.1",), kind=kind)
        combined = work / "pki" / f"haproxy-{kind}.pem"
        combined.write_bytes(issued.cert.read_bytes() + issued.key.read_bytes())
        out[kind] = (issued.cert, issued.key, combined)
    return out


class _TlsTarget(Target):
    def __init__(self, pairs: dict[str, Pair], work: Path) -> None:
        super().__init__(pairs, work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in LISTENERS}
        self.proc: Proc | None = None
        missing = [k for k in ("echo", "http") if k not in pairs]
        if missing:
            self.available, self.note = False, f"needs the {', '.join(missing)} backends"
        else:
            self.certs = make_certs(self.work)

    def port(self, kind: str) -> int:
        return self.ports[kind]

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None else []

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


class TlsHAProxy(_TlsTarget):
    name = "tls-haproxy"

    def __init__(self, pairs: dict[str, Pair], work: Path) -> None:
        super().__init__(pairs, work / "tls-haproxy")
        if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
            self.available, self.note = False, "haproxy is not installed (make bench installs it)"

    def start(self) -> None:
        text = ("global\n    nbthread 1\n    maxconn 9000\ndefaults\n    mode tcp\n    timeout connect 5s\n"
                "    timeout client 1h\n    timeout server 1h\n")
        for name, (kind, key) in LISTENERS.items():
            text += (f"frontend f_{name}\n    bind 127.0.0.1:{self.ports[name]} ssl crt {self.certs[key][2]} "
                     f"alpn http/1.1\n    default_backend b_{name}\nbackend b_{name}\n"
                     f"    server main 127.0.0.1:{self.pairs[kind].main.port}\n")
        cfg = self.work / "haproxy.cfg"
        cfg.write_text(text)
        self.proc = Proc(self.name, ["haproxy", "-f", str(cfg), "-db"], self.work / "haproxy.log")
        for port in self.ports.values():
            wait_port(port, 15, self.proc)


class TlsHoneyswitch(_TlsTarget):
    name = "tls-hs"

    def __init__(self, pairs: dict[str, Pair], work: Path) -> None:
        super().__init__(pairs, work / "tls-hs")
        self.api_port = free_port()

    def start(self) -> None:
        text = ""
        for name, (kind, key) in LISTENERS.items():
            pair = self.pairs[kind]
            cert, keyfile, _ = self.certs[key]
            text += (f'[[service]]\nname = "{name}"\nlisten = "127.0.0.1:{self.ports[name]}"\n'
                     f'main = "tcp://127.0.0.1:{pair.main.port}"\nhoneypot = "tcp://127.0.0.1:{pair.honeypot.port}"\n'
                     f'tls = {{ cert = "{cert}", key = "{keyfile}", max_handshakes = 4096 }}\n')
        cfg = self.work / "honeyswitch.toml"
        cfg.write_text(text + COMMON.format(api=self.api_port, token=TOKEN))
        self.proc = Proc(self.name, HS + ["run", "-c", str(cfg)], self.work / "daemon.log", cwd=self.work)
        wait_port(self.api_port, 30, self.proc)
        for port in self.ports.values():
            wait_port(port, 30, self.proc)

    def events_mark(self) -> int:
        path = self.work / "events.jsonl"
        return path.stat().st_size if path.exists() else 0

    def events_since(self, mark: int) -> dict[str, int]:
        return count_events(self.work / "events.jsonl", mark)
