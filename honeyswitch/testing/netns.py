"""Network namespaces for tests (root): a small lab of "hosts" joined by veth pairs.

A :class:`Lab` creates namespaces with names of its own, veth pairs between them,
addresses and routes, runs programs inside them, and removes everything when it closes,
whatever happened in between: processes are stopped (SIGTERM, then SIGKILL, bounded)
and the namespaces deleted, taking their interfaces, addresses and nft tables along.
Tests use only 198.18.0.0/15 (RFC 2544 benchmarking space).

Programs run under ``nsenter --net`` (not ``ip netns exec``), so they share the host's
mount namespace: namespaces they create themselves (``honeyswitch decoy up``) are then
visible to everyone.  A test can also get a socket *created* inside a namespace
(:func:`socket_in`): it stays in that namespace wherever it is used afterwards.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
TIMEOUT = 30.0
_counter = itertools.count()

# A line service for tests: answers each line with "NAME PEER_IP: line", so a test sees
# which host served it and what client address that host saw.
LINE_SERVER = r"""
import socket, sys, threading
name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = socket.create_server((host, port))
def serve(conn, peer):
    with conn:
        for line in conn.makefile("rb"):
            conn.sendall(name.encode() + b" " + peer[0].encode() + b": " + line)
while True:
    conn, peer = srv.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
"""


def in_ns(ns: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside namespace ``ns``."""
    return ["nsenter", f"--net={NETNS_DIR / ns}", *argv]


def run(ns: str | None, argv: Sequence[str], *, check: bool = True, stdin: str | None = None,
        timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run to completion (in ``ns``, or here when None); raises with stderr on failure."""
    full = in_ns(ns, argv) if ns else list(argv)
    res = subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(full)}: exit {res.returncode}: {res.stderr.strip()}")
    return res


def ns_exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def delete_ns(ns: str) -> None:
    """Stop every process in ``ns`` and delete it; absent is fine."""
    if not ns_exists(ns):
        return
    pids = run(None, ["ip", "netns", "pids", ns], check=False).stdout.split()
    stop_pids({int(p) for p in pids if p.isdigit()})
    run(None, ["ip", "netns", "del", ns], check=False)


def stop_pids(pids: set[int], grace: float = 3.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if _running(p)}
            time.sleep(0.02)
        if not pids:
            return


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def line_answer(sock: socket.socket, line: bytes, limit: int = 65536) -> bytes:
    """Send ``line`` and read one answer line back (what :data:`LINE_SERVER` gives)."""
    sock.sendall(line)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
        if len(data) > limit:
            raise ConnectionError(f"no end of line in {limit} bytes")
    return data


def socket_in(ns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM, proto: int = 0) -> socket.socket:
    """A new socket of namespace ``ns``.  setns() moves only the calling thread, so a
    short-lived thread enters the namespace, creates the socket and ends."""
    out: dict[str, Any] = {}

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {ns}: {os.strerror(err)}")
            finally:
                os.close(fd)
            out["sock"] = socket.socket(family, kind, proto)
        except BaseException as e:  # handed to the caller's thread
            out["error"] = e

    thread = threading.Thread(target=enter, name=f"setns-{ns}")
    thread.start()
    thread.join(10)
    if "error" in out:
        raise out["error"]
    if "sock" not in out:
        raise TimeoutError(f"socket in {ns}: no answer")
    return out["sock"]


def connect(ns: str, addr: tuple[str, int], timeout: float = 5.0) -> socket.socket:
    """A TCP connection made from inside ``ns``."""
    sock = socket_in(ns, socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
    sock.settimeout(timeout)
    try:
        sock.connect(addr)
    except BaseException:
        sock.close()
        raise
    return sock


def can_connect(ns: str, addr: tuple[str, int], timeout: float = 1.0) -> bool:
    try:
        connect(ns, addr, timeout).close()
    except OSError:
        return False
    return True


def wait_port(ns: str, addr: tuple[str, int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if can_connect(ns, addr, 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {addr[0]}:{addr[1]} in {ns} after {timeout}s")


class Lab:
    """Namespaces, links and processes of one test; :meth:`close` removes them all."""

    def __init__(self, tag: str = "t") -> None:
        self.prefix = f"hs{tag}{os.getpid() % 100000}x{next(_counter)}"
        self.namespaces: list[str] = []
        self.extra_ns: list[str] = []  # created by the code under test; deleted too
        self.procs: list[subprocess.Popen[Any]] = []
        self._links = itertools.count()

    def ns(self, short: str) -> str:
        """Create namespace ``<prefix>-<short>`` with loopback up; returns its name."""
        name = f"{self.prefix}-{short}"
        self.namespaces.append(name)  # before creating: cleaned up even if half-made
        run(None, ["ip", "netns", "add", name])
        run(name, ["ip", "link", "set", "lo", "up"])
        return name

    def link(self, a: str, a_cidr: str, b: str, b_cidr: str) -> tuple[str, str]:
        """A veth pair between namespaces ``a`` and ``b``, addressed and up."""
        n = next(self._links)
        ia, ib = f"v{n}a", f"v{n}b"
        run(None, ["ip", "link", "add", ia, "netns", a, "type", "veth", "peer", "name", ib, "netns", b])
        for ns, iface, cidr in ((a, ia, a_cidr), (b, ib, b_cidr)):
            run(ns, ["ip", "addr", "add", cidr, "dev", iface])
            run(ns, ["ip", "link", "set", iface, "up"])
        return ia, ib

    def route(self, ns: str, dest: str, via: str) -> None:
        run(ns, ["ip", "route", "add", dest, "via", via])

    def forwarding(self, ns: str) -> None:
        run(ns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])

    def spawn(self, ns: str, argv: Sequence[str], log: Path | None = None, **kw: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` in ``ns``; stopped at close.  Output goes to ``log`` if given."""
        out: IO[Any] | int = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(in_ns(ns, argv), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, **kw)
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
        self.procs.append(proc)
        return proc

    def line_server(self, ns: str, name: str, host: str, port: int) -> subprocess.Popen[Any]:
        proc = self.spawn(ns, [sys.executable, "-c", LINE_SERVER, name, host, str(port)])
        wait_port(ns, (host, port))
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        for ns in [*self.extra_ns, *reversed(self.namespaces)]:
            delete_ns(ns)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
