"""Helpers of the packet-mode tests: a recording stream server run inside a namespace,
a client that checks bytes by SHA-256, and the impairment tool's launcher.

:data:`STREAM_SERVER` serves every connection the same way: each line ``ECHO n`` makes
it read ``n`` bytes and send them back; ``SEND n seed`` sends ``n`` bytes of a seeded
pattern; anything else is echoed line by line.  It appends one JSON line per connection
to its log when the connection ends: peer, bytes received and their SHA-256, and how it
ended (``eof``, ``reset`` for ECONNRESET, or the error).  Main and the honeypot run the
same program, so they are byte-for-byte identical services.
"""
from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path
from typing import Any

from . import netns

STREAM_SERVER = r"""
import hashlib, json, random, socket, sys, threading
host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port)); srv.listen(64)
lock = threading.Lock()
def pattern(n, seed):
    return random.Random(seed).randbytes(n)
def serve(conn, peer):
    got, h, end = 0, hashlib.sha256(), "eof"
    buf = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk); h.update(chunk); buf += chunk
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                words = line.split()
                if words[:1] == [b"ECHO"]:
                    n = int(words[1])
                    while len(buf) < n:
                        more = conn.recv(65536)
                        if not more:
                            raise EOFError("short")
                        got += len(more); h.update(more); buf += more
                    conn.sendall(buf[:n]); buf = buf[n:]
                elif words[:1] == [b"SEND"]:
                    conn.sendall(pattern(int(words[1]), int(words[2])))
                else:
                    conn.sendall(line + b"\n")
    except ConnectionResetError:
        end = "reset"
    except Exception as e:
        end = type(e).__name__
    finally:
        conn.close()
        with lock, open(log, "a") as f:
            f.write(json.dumps({"peer": peer[0], "port": peer[1], "bytes": got,
                                "sha256": h.hexdigest(), "end": end}) + "\n")
while True:
    c, p = srv.accept()
    threading.Thread(target=serve, args=(c, p), daemon=True).start()
"""


def start_stream_server(lab: netns.Lab, ns: str, host: str, port: int, log: Path) -> None:
    lab.spawn(ns, ["python3", "-c", STREAM_SERVER, host, str(port), str(log)])
    netns.wait_port(ns, (host, port))


def server_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_log(log: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = server_log(log)
        if len(entries) >= count:
            return entries
        time.sleep(0.05)
    raise TimeoutError(f"{log}: {len(server_log(log))} of {count} connections logged after {timeout}s")


def pattern(n: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


def recv_exact(sock: socket.socket, n: int, timeout: float = 30.0) -> bytes:
    """Read ``n`` bytes (bounded in time); raises on EOF or timeout."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"got {len(out)} of {n} bytes after {timeout}s")
        sock.settimeout(left)
        chunk = sock.recv(min(1 << 20, n - len(out)))
        if not chunk:
            raise ConnectionError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def echo_roundtrip(sock: socket.socket, data: bytes, timeout: float = 30.0) -> bytes:
    """``ECHO n`` and ``data``; returns what came back (sent and read concurrently)."""
    import threading

    errors: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(b"ECHO %d\n" % len(data) + data)
        except BaseException as e:  # handed to the caller
            errors.append(e)

    t = threading.Thread(target=send)
    t.start()
    try:
        back = recv_exact(sock, len(data), timeout)
    finally:
        t.join(timeout)
    if errors:
        raise errors[0]
    return back


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ topologies

V4 = {"c": "198.18.40.2", "s": "198.18.40.1", "gc": "198.18.41.1", "gm": "198.18.42.1", "gh": "198.18.43.1",
      "c2": "198.18.41.2", "m": "198.18.42.2", "h": "198.18.43.2", "len": "24"}
V6 = {"c": "2001:2:0:40::2", "s": "2001:2:0:40::1", "gc": "2001:2:0:41::1", "gm": "2001:2:0:42::1",
      "gh": "2001:2:0:43::1", "c2": "2001:2:0:41::2", "m": "2001:2:0:42::2", "h": "2001:2:0:43::2", "len": "64"}


class Topology:
    """Where things are: the client's namespace, where honeyswitch runs, where main and
    the honeypot listen (``addr``/``port``), and the client's link (to impair)."""

    def __init__(self, lab: netns.Lab, v6: bool, gateway: bool) -> None:
        self.lab, self.v6, self.gateway = lab, v6, gateway
        a = V6 if v6 else V4
        self.client = lab.ns("c")
        if gateway:
            self.daemon_ns = lab.ns("g")
            self.main_ns, self.hp_ns = lab.ns("m"), lab.ns("h")
            self.client_if = self._link(self.client, a["c2"], self.daemon_ns, a["gc"], a["len"])[0]
            self._link(self.main_ns, a["m"], self.daemon_ns, a["gm"], a["len"])
            self._link(self.hp_ns, a["h"], self.daemon_ns, a["gh"], a["len"])
            for ns, via in ((self.client, a["gc"]), (self.main_ns, a["gm"]), (self.hp_ns, a["gh"])):
                netns.run(ns, ["ip", "-6" if v6 else "-4", "route", "add", "default", "via", via])
            key = "net.ipv6.conf.all.forwarding=1" if v6 else "net.ipv4.ip_forward=1"
            netns.run(self.daemon_ns, ["sysctl", "-q", "-w", key])
            self.client_addr, self.next_hop = a["c2"], a["gc"]
            self.main, self.honeypot = (a["m"], 8080), (a["h"], 8080)
        else:
            self.daemon_ns = self.main_ns = self.hp_ns = lab.ns("s")
            self.client_if = self._link(self.client, a["c"], self.daemon_ns, a["s"], a["len"])[0]
            self.client_addr, self.next_hop = a["c"], a["s"]
            self.main, self.honeypot = (a["s"], 8080), (a["s"], 8081)

    def _link(self, x: str, x_addr: str, y: str, y_addr: str, plen: str) -> tuple[str, str]:
        """A veth pair; addresses without duplicate address detection (usable at once)."""
        n = next(self.lab._links)
        ix, iy = f"v{n}a", f"v{n}b"
        netns.run(None, ["ip", "link", "add", ix, "netns", x, "type", "veth", "peer", "name", iy, "netns", y])
        for ns, iface, addr in ((x, ix, x_addr), (y, iy, y_addr)):
            netns.run(ns, ["ip", "addr", "add", f"{addr}/{plen}", "dev", iface, *(["nodad"] if self.v6 else [])])
            netns.run(ns, ["ip", "link", "set", iface, "up"])
        return ix, iy

    def url(self, where: tuple[str, int]) -> str:
        host = f"[{where[0]}]" if self.v6 else where[0]
        return f"tcp://{host}:{where[1]}"

    def start_servers(self, workdir: Path) -> tuple[Path, Path]:
        logs = workdir / "main.log", workdir / "honeypot.log"
        start_stream_server(self.lab, self.main_ns, *self.main, logs[0])
        start_stream_server(self.lab, self.hp_ns, *self.honeypot, logs[1])
        return logs

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return netns.connect(self.client, self.main, timeout)


# -------------------------------------------------------------- impairment

# A real network impairment for the client's link, in the client's namespace: netem is
# not in this kernel, so a queue of its own holds some packets and lets them go later
# (reordering, delay) and drops a share (loss), with verdicts out of order.
IMPAIR_TOOL = r"""
import heapq, random, select, sys, time
from netfilterqueue import NetfilterQueue
queue, loss, reorder, delay, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
rng = random.Random(7)
held, n = [], 0
def cb(pkt):
    global n
    r = rng.random()
    if r < loss:
        pkt.drop()
    elif r < loss + reorder:
        n += 1
        heapq.heappush(held, (time.monotonic() + delay * rng.uniform(0.5, 1.5), n, pkt))
    else:
        pkt.accept()
q = NetfilterQueue()
q.bind(queue, cb, max_len=4096)
fd = q.get_fd()
end = time.monotonic() + seconds
while time.monotonic() < end:
    wait = max(0.0, min(0.005, held[0][0] - time.monotonic())) if held else 0.005
    if select.select([fd], [], [], wait)[0]:
        q.run(block=False)
    now = time.monotonic()
    while held and held[0][0] <= now:
        heapq.heappop(held)[2].accept()
for _, _, p in held:
    p.accept()
q.unbind()
"""


def impair(lab: netns.Lab, topo: Topology, *, loss: float = 0.0, reorder: float = 0.0, delay: float = 0.003,
           dup: float = 0.0, queue: int = 77, seconds: float = 120.0) -> None:
    """Impair the client's link both ways: ``loss`` and ``reorder`` (share of packets
    held ``delay`` seconds, so later ones overtake them) in a user-space queue,
    duplication with nft's ``dup``.  The client's namespace only: a real link fault."""
    ns, tool = topo.client, "ip6tables" if topo.v6 else "iptables"
    port = str(topo.main[1])
    for chain, flag in (("OUTPUT", "--dport"), ("PREROUTING", "--sport")):
        netns.run(ns, [tool, "-t", "raw", "-A", chain, "-p", "tcp", flag, port, "-j", "NFQUEUE",
                       "--queue-num", str(queue), "--queue-bypass"])
    lab.spawn(ns, ["python3", "-c", IMPAIR_TOOL, str(queue), str(loss), str(reorder), str(delay), str(seconds)])
    if dup:
        pct = max(1, round(dup * 100))
        family = "ip6" if topo.v6 else "ip"
        rules = (f"table {family} impair {{\n chain out {{\n  type filter hook output priority 10;\n"
                 f"  tcp dport {port} numgen random mod 100 < {pct} counter dup to {topo.next_hop} device {topo.client_if}\n"
                 " }\n}\n")
        netns.run(ns, ["nft", "-f", "-"], stdin=rules)
    time.sleep(0.3)  # the tool binds its queue


def duplicated(topo: Topology) -> int:
    """Packets the impairment duplicated so far."""
    family = "ip6" if topo.v6 else "ip"
    out = netns.run(topo.client, ["nft", "-j", "list", "table", family, "impair"]).stdout
    for item in json.loads(out)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return int(expr["counter"]["packets"])
    return 0
