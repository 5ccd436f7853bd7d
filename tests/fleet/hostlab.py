"""Several honeyswitch hosts and one Redis, each in a network namespace of its own
(root), for the tests of ``[cluster]`` with real processes.

Addresses are only in 198.18.48.0/21.  A router namespace joins:
- the clients: 198.18.49.0/24 (the router .254; clients .1 ... .40 on one interface,
  each address a different attacker or user);
- Redis: 198.18.48.0/30 (redis-server on 198.18.48.2:6379);
- host i (a, b, c): 198.18.50.(4i).0/30, honeyswitch on 198.18.50.(4i+2):7000.

Each host protects its own small line service (``main-NAME`` on 127.0.0.1:7101 in its
namespace) with a copy (``honeypot-NAME`` on :7102); every reply names the server that
gave it, so a client sees where it was sent.  The control API of each host is on
127.0.0.1:8439 in its namespace: the tests call it with curl and the CLI run there.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honeyswitch.testing import netns

HS = [sys.executable, "-m", "honeyswitch"]
REDIS = "198.18.48.2"
PORT = 7000
CLIENT_NET = "198.18.49"
RULES = """\
alert tcp any any -> any any (msg:"test: attack worth 60"; flow:to_server; content:"ATTACK-60"; metadata: honeyswitch_score 60; sid:9904801; rev:1;)
alert tcp any any -> any any (msg:"test: attack worth 500"; flow:to_server; content:"ATTACK-500"; metadata: honeyswitch_score 500; sid:9904802; rev:1;)
"""


def client_ip(n: int) -> str:
    return f"{CLIENT_NET}.{n}"


def wait(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> float:
    """Poll ``pred`` until true (bounded by ``timeout``); returns how long it took."""
    start = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(step)


class Redis:
    """redis-server in its namespace, killed and started again on the same address
    (no persistence: it comes back empty, as a cache-only Redis does after a crash)."""

    def __init__(self, lab: netns.Lab, ns: str, workdir: Path) -> None:
        self.lab, self.ns, self.workdir = lab, ns, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[Any] | None = None
        self.start()

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe is not None
        self.proc = self.lab.spawn(self.ns, [
            exe, "--bind", REDIS, "--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no",
            "--dir", str(self.workdir), "--daemonize", "no", "--logfile", str(self.workdir / "redis.log")])
        netns.wait_port(self.ns, (REDIS, 6379))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    @property
    def url(self) -> str:
        return f"redis://{REDIS}:6379"


class Host:
    """One honeyswitch host: its namespace, services, config and daemon process."""

    def __init__(self, lab: netns.Lab, name: str, ns: str, addr: str, workdir: Path, *,
                 workers: int = 1, threshold: float = 100.0) -> None:
        self.lab, self.name, self.ns, self.addr = lab, name, ns, addr
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir = workdir
        lab.line_server(ns, f"main-{name}", "127.0.0.1", 7101)
        lab.line_server(ns, f"honeypot-{name}", "127.0.0.1", 7102)
        (workdir / "test.rules").write_text(RULES)
        self.config = workdir / "honeyswitch.toml"
        self.config.write_text(f"""
[[service]]
name = "line"
listen = "0.0.0.0:{PORT}"
main = "tcp://127.0.0.1:7101"
honeypot = "tcp://127.0.0.1:7102"
align = "quiet"
quiet_time = 0.05
switch_threshold = 1000
rules = ["{workdir / 'test.rules'}"]
[scoring]
blacklist_threshold = {threshold}
[blacklist]
ttl = 600
[store]
path = "{workdir / 'state' / 'honeyswitch.db'}"
[events]
path = "{workdir / 'events.jsonl'}"
[transcripts]
dir = "{workdir / 'transcripts'}"
[control]
listen = "127.0.0.1:8439"
token = "test-token"
[daemon]
workers = {workers}
[cluster]
redis = "redis://{REDIS}:6379"
host = "{name}"
timeout = 0.5
connect_timeout = 0.5
sessions_interval = 0.2
request_timeout = 3.0
""")
        self.log = workdir / "daemon.log"
        self.proc = lab.spawn(ns, [*HS, "run", "-c", str(self.config)], log=self.log)
        try:
            netns.wait_port(ns, ("127.0.0.1", 8439), timeout=60)
        except TimeoutError:
            raise AssertionError(f"{name} did not start: {self.log.read_text()[-2000:]}") from None

    # ------------------------------------------------------------ operating it

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """The control API with curl, inside the host's namespace: (status, JSON, or the
        text of a route that is not JSON)."""
        argv = ["curl", "-sS", "--max-time", "10", "-X", method, "-H", "Authorization: Bearer test-token",
                "-w", "\n%{http_code}", f"http://127.0.0.1:8439{path}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
        text, _, code = netns.run(self.ns, argv).stdout.rpartition("\n")
        try:
            return int(code), json.loads(text) if text else None
        except ValueError:
            return int(code), text

    def get(self, path: str) -> Any:
        status, body = self.api("GET", path)
        assert status == 200, (self.name, path, status, body)
        return body

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return netns.run(self.ns, [*HS, *args, "-c", str(self.config)], check=check, timeout=60)

    def cluster_state(self) -> str:
        return str(self.get("/api/v1/health").get("cluster", {}).get("state"))

    def listed(self, ip: str) -> bool:
        return any(e["ip"] == ip for e in self.get("/api/v1/blacklist")["blacklist"])

    def events(self, event_type: str) -> list[dict[str, Any]]:
        path = self.dir / "events.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in map(json.loads, lines) if e["event_type"] == event_type]

    # ------------------------------------------------------------ its clients

    def connect(self, client_ns: str, src: str, timeout: float = 5.0) -> socket.socket:
        """A connection from ``src`` (an address of the client namespace) to this host's service."""
        sock = netns.socket_in(client_ns)
        sock.settimeout(timeout)
        try:
            sock.bind((src, 0))
            sock.connect((self.addr, PORT))
        except BaseException:
            sock.close()
            raise
        return sock

    def served_by(self, client_ns: str, src: str, line: str = "hello") -> str:
        """Which server answers a new connection from ``src`` ("main-a", "honeypot-b" ...)."""
        with self.connect(client_ns, src) as sock:
            return ask(sock, line).split(" ", 1)[0]


def ask(sock: socket.socket, line: str) -> str:
    """Send one line, return the one-line answer."""
    return netns.line_answer(sock, line.encode() + b"\n").decode()


class Site:
    """The router, the clients, Redis and ``names`` hosts; hosts start with :meth:`start`."""

    def __init__(self, lab: netns.Lab, workdir: Path, names: list[str]) -> None:
        self.lab, self.workdir = lab, workdir
        self.router = lab.ns("net")
        lab.forwarding(self.router)
        self.client = lab.ns("cli")
        _, cif = lab.link(self.router, f"{CLIENT_NET}.254/24", self.client, f"{client_ip(1)}/24")
        for n in range(2, 41):
            netns.run(self.client, ["ip", "addr", "add", f"{client_ip(n)}/24", "dev", cif])
        lab.route(self.client, "default", f"{CLIENT_NET}.254")
        redis_ns = lab.ns("redis")
        lab.link(self.router, "198.18.48.1/30", redis_ns, f"{REDIS}/30")
        lab.route(redis_ns, "default", "198.18.48.1")
        self.redis = Redis(lab, redis_ns, workdir / "redis")
        self.addrs: dict[str, tuple[str, str]] = {}
        for i, name in enumerate(names):
            ns, base = lab.ns(name), 4 * i
            lab.link(self.router, f"198.18.50.{base + 1}/30", ns, f"198.18.50.{base + 2}/30")
            lab.route(ns, "default", f"198.18.50.{base + 1}")
            self.addrs[name] = (ns, f"198.18.50.{base + 2}")
        self.hosts: dict[str, Host] = {}

    def start(self, name: str, **kw: Any) -> Host:
        ns, addr = self.addrs[name]
        host = self.hosts[name] = Host(self.lab, name, ns, addr, self.workdir / name, **kw)
        return host

    def all_up(self, timeout: float = 20.0) -> None:
        for h in self.hosts.values():
            wait(lambda h=h: h.cluster_state() == "up", timeout, f"{h.name} in contact with Redis", step=0.1)
