"""Micro-benchmark: one bulk stream client -> main, mirrored to a honeypot, on loopback.

    python -m bench.splice_mirror [--seconds 1.6] [--runs 2] [--honeypot-limit 256MiB]

Paths, alternated run by run (about 20 s in all with the defaults):
- ``direct``: the client straight to main's sink (no proxy);
- ``uvloop1``: a minimal uvloop protocol proxy, client -> main only (no mirror);
- ``uvloop``: the same, also writing every chunk to the honeypot (what the asyncio relay
  does for a mirrored session with no inline detectors);
- ``splice``: :class:`honeyswitch.relay.splice.SpliceMirror` (splice + tee, zero-copy);
- ``splice1``: the same without a honeypot (MAIN_ONLY: what a session becomes after its
  honeypot is dropped);
- ``haproxy``: HAProxy in TCP mode, 1 thread, client -> main (if installed): the
  reference of issue 5's targets (MIRROR bulk >= 0.8x HAProxy).

The client and the sinks run in their own processes, so the proxy's CPU is this
process's alone (``resource.getrusage``, per GB that main received; on loopback it
includes delivering into the sinks' sockets, which runs in the sender's context).
Figures are medians; single-stream throughput swings with scheduler placement on a
small VM (../shared/notes/performance.md): compare ratios within one run.

The honeypot limit defaults to 256 MiB, so that the figures are for full mirroring: with
4 processes on 2 vCPUs the honeypot's sink is the one that loses the CPU, and it falls
more than the daemon's default 4 MiB (a few ms at these rates) behind within a second,
on both paths.  ``--honeypot-limit 4MiB`` shows that (``drops``, ``hp/main`` < 1).
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import multiprocessing.connection
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop

from honeyswitch.core.types import End
from honeyswitch.relay.splice import HoneypotDropped, Lost, SpliceMirror, WriteShut, supported
from honeyswitch.tasks import spawn

HOST = "127.0.0.1"
BUF = 1 << 20
DEFAULT_LIMIT = 256 << 20
WAIT = 30.0  # longest any one run may take before the benchmark gives up


# ------------------------------------------------------------- helper processes


def _sink_proc(name: str, ports: Any, results: Any) -> None:
    """A backend's sink (main's or the honeypot's, each its own process): count bytes
    until EOF, then report and close."""
    lst = socket.create_server((HOST, 0))
    ports.send((name, lst.getsockname()[1]))
    buf = bytearray(BUF)
    while True:
        conn, _ = lst.accept()
        conn.settimeout(WAIT)
        total, first = 0, 0.0
        try:
            while n := conn.recv_into(buf):
                if not total:
                    first = time.monotonic()
                total += n
        except OSError:
            pass  # reset (a dropped honeypot): report what arrived
        results.put((name, total, first, time.monotonic()))
        conn.close()


def _client_proc(cmds: Any) -> None:
    """The client: on ("run", port, seconds) send as fast as it can, half-close, wait
    for the proxy's EOF, and reply with the byte count."""
    data = memoryview(bytes(range(256)) * (BUF // 256))
    while (cmd := cmds.recv()) is not None:
        _, port, seconds = cmd
        sock = socket.create_connection((HOST, port))
        sock.settimeout(WAIT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sock.sendall(data)
            sent += len(data)
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(BUF):
                pass
        except OSError:
            pass
        sock.close()
        cmds.send(sent)


# ------------------------------------------------------------------- proxies


class _Backend(asyncio.Protocol):
    def __init__(self, front: _Front, name: str, limit: int) -> None:
        self.front, self.name, self.limit = front, name, limit
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.name == "honeypot":
            # As the relay does: the honeypot may queue this much before it is dropped.
            transport.set_write_buffer_limits(high=self.limit)  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        if self.name == "main":
            self.front.transport.pause_reading()
        else:
            self.front.drop_honeypot()

    def resume_writing(self) -> None:
        if self.name == "main":
            self.front.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.name == "main":
            self.front.transport.write(data)

    def eof_received(self) -> bool:
        if self.name == "main":
            self.front.transport.write_eof()
        return False  # the sinks only close: nothing more to send them either

    def connection_lost(self, exc: Exception | None) -> None:
        if self.name == "main":
            self.front.transport.close()
        else:
            self.front.hp_closed = True
            self.front.maybe_done()


class _Front(asyncio.Protocol):
    """The client's side of the plain uvloop mirror: each chunk to main and honeypot."""

    def __init__(self, ports: dict[str, int], done: asyncio.Future[dict[str, Any]],
                 limit: int, mirror: bool) -> None:
        self.ports, self.done, self.limit, self.mirror = ports, done, limit, mirror
        self.main: _Backend | None = None
        self.hp: _Backend | None = None
        self.dropped = False
        self.connected = False
        self.front_closed = self.hp_closed = False
        self.early: list[bytes] = []  # read before the backends were up
        self.early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.pause_reading()
        spawn(self._connect(), name="bench:connect")

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.main = await loop.create_connection(lambda: _Backend(self, "main", 0), HOST,
                                                    self.ports["main"])
        if self.mirror:
            _, self.hp = await loop.create_connection(lambda: _Backend(self, "honeypot", self.limit),
                                                      HOST, self.ports["honeypot"])
        self.connected = True
        early, self.early = self.early, []
        for data in early:
            self.data_received(data)
        if self.early_eof:
            self.eof_received()
        self.transport.resume_reading()

    def drop_honeypot(self) -> None:
        if self.hp is not None and self.hp.transport is not None:
            self.hp.transport.abort()
        self.hp, self.dropped = None, True

    def data_received(self, data: bytes) -> None:
        if not self.connected:
            # uvloop may deliver a first read despite pause_reading in connection_made.
            self.early.append(data)
            self.transport.pause_reading()
            return
        assert self.main is not None and self.main.transport is not None
        self.main.transport.write(data)
        if self.hp is not None and self.hp.transport is not None:
            self.hp.transport.write(data)

    def eof_received(self) -> bool:
        if not self.connected:
            self.early_eof = True
            return True
        for b in (self.main, self.hp):
            if b is not None and b.transport is not None:
                b.transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.hp is not None and self.hp.transport is not None:
            self.hp.transport.close()  # after its buffer is written: wait for that
        self.front_closed = True
        self.maybe_done()

    def maybe_done(self) -> None:
        hp_done = self.hp_closed or self.hp is None
        if self.front_closed and hp_done and not self.done.done():
            self.done.set_result({"dropped": self.dropped})


async def _uvloop_proxy(lst: socket.socket, ports: dict[str, int], limit: int,
                        mirror: bool) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[dict[str, Any]] = loop.create_future()
    server = await loop.create_server(lambda: _Front(ports, done, limit, mirror), sock=lst)
    try:
        return await asyncio.wait_for(done, WAIT)
    finally:
        server.close()


async def _splice_proxy(lst: socket.socket, ports: dict[str, int], limit: int,
                        mirror: bool) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    lst.setblocking(False)
    client, _ = await loop.sock_accept(lst)
    socks = [client]
    for name in ("main", "honeypot") if mirror else ("main",):
        s = socket.socket()
        s.setblocking(False)
        await loop.sock_connect(s, (HOST, ports[name]))
        socks.append(s)
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done: asyncio.Future[None] = loop.create_future()
    events: list[Any] = []

    def on_event(ev: Any) -> None:
        events.append(ev)
        # Done when main's EOF (its sink closes after ours) has reached the client and
        # the honeypot has had all its bytes (or was dropped).
        hp_done = not mirror or any(e == WriteShut(End.HONEYPOT) or isinstance(e, HoneypotDropped)
                                    for e in events)
        finished = WriteShut(End.CLIENT) in events and hp_done
        if (finished or isinstance(ev, Lost)) and not done.done():
            done.set_result(None)

    fds = [s.fileno() for s in socks]
    splicer = SpliceMirror(loop, fds[0], fds[1], fds[2] if mirror else None,
                           honeypot_limit=limit, on_event=on_event)
    splicer.start()
    try:
        await asyncio.wait_for(done, WAIT)
    finally:
        handoff = splicer.stop()
        for s in socks:
            s.close()
    c = handoff.counters
    return {"dropped": any(isinstance(e, HoneypotDropped) for e in events),
            "syscalls": c.syscalls, "polls": c.polls}


class _HAProxy:
    """HAProxy, TCP mode, one thread, in front of main's sink; CPU read from /proc."""

    def __init__(self, main_port: int) -> None:
        with socket.create_server((HOST, 0)) as probe:
            self.port = probe.getsockname()[1]
        self._dir = tempfile.TemporaryDirectory(prefix="bench-haproxy-")
        cfg = Path(self._dir.name) / "haproxy.cfg"
        cfg.write_text(
            "global\n  nbthread 1\n"
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n"
            "  timeout server 60s\n"
            f"frontend f\n  bind {HOST}:{self.port}\n  default_backend b\n"
            f"backend b\n  server s {HOST}:{main_port}\n")
        self.proc = subprocess.Popen([shutil.which("haproxy") or "haproxy", "-db", "-f", str(cfg)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):  # up to 2 s to start listening
            try:
                socket.create_connection((HOST, self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("haproxy did not start")

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self._dir.cleanup()


# ------------------------------------------------------------------- driver


@dataclass
class Run:
    path: str
    gbit_s: float
    gbytes: float
    cpu_s_per_gb: float | None
    honeypot_gbytes: float
    dropped: bool
    syscalls_per_gb: float | None


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _one(path: str, seconds: float, limit: int, ports: dict[str, int], client: Any,
         results: Any, haproxy: _HAProxy | None) -> Run:
    lst = socket.create_server((HOST, 0))
    port = {"direct": ports["main"], "haproxy": haproxy.port if haproxy else 0}.get(
        path, lst.getsockname()[1])
    mirror = path in ("uvloop", "splice")
    cpu_of = haproxy.cpu if path == "haproxy" and haproxy else _cpu
    cpu0 = cpu_of()
    client.send(("run", port, seconds))
    info: dict[str, Any] = {}
    if path not in ("direct", "haproxy"):
        proxy: Callable[..., Any] = _uvloop_proxy if path.startswith("uvloop") else _splice_proxy
        info = uvloop.run(proxy(lst, ports, limit, mirror))
    if not client.poll(WAIT):
        raise RuntimeError(f"{path}: the client did not finish")
    client.recv()
    cpu = cpu_of() - cpu0
    lst.close()
    got: dict[str, tuple[int, float, float]] = {}
    want = {"main", "honeypot"} if mirror else {"main"}
    while set(got) < want:
        name, total, first, last = results.get(timeout=WAIT)
        got[name] = (total, first, last)
    total, first, last = got["main"]
    gb = total / 1e9
    return Run(
        path=path,
        gbit_s=total * 8 / 1e9 / max(last - first, 1e-9),
        gbytes=gb,
        cpu_s_per_gb=cpu / gb if path != "direct" and gb else None,  # the proxy's own
        honeypot_gbytes=got.get("honeypot", (0, 0.0, 0.0))[0] / 1e9,
        dropped=bool(info.get("dropped")),
        syscalls_per_gb=info["syscalls"] / gb if "syscalls" in info and gb else None,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.6, help="seconds the client sends per run")
    ap.add_argument("--runs", type=int, default=2, help="runs of each path")
    ap.add_argument("--honeypot-limit", default="256MiB", help="e.g. 4MiB (the daemon's default)")
    args = ap.parse_args(argv)
    limit = _size(args.honeypot_limit)
    if not supported():
        print("splice/tee not available here", file=sys.stderr)
        return 2
    ctx = mp.get_context("fork")  # before any event loop exists in this process
    ports_r, ports_w = ctx.Pipe(duplex=False)
    results = ctx.Queue()
    client, client_end = ctx.Pipe()
    procs = [ctx.Process(target=_sink_proc, args=(name, ports_w, results), daemon=True)
             for name in ("main", "honeypot")]
    procs.append(ctx.Process(target=_client_proc, args=(client_end,), daemon=True))
    for p in procs:
        p.start()
    ports: dict[str, int] = dict(ports_r.recv() for _ in range(2))
    haproxy = _HAProxy(ports["main"]) if shutil.which("haproxy") else None
    if haproxy is not None:
        # Its readiness probe may have reached main's sink: forget that empty connection.
        time.sleep(0.2)
        while not results.empty():
            results.get()
    paths = ("direct",) + (("haproxy",) if haproxy else ()) + ("uvloop1", "splice1", "uvloop", "splice")
    runs: list[Run] = []
    try:
        for i in range(args.runs):
            for path in paths if i % 2 == 0 else reversed(paths):
                r = _one(path, args.seconds, limit, ports, client, results, haproxy)
                runs.append(r)
                print(f"  run {i + 1} {path:7} {r.gbit_s:6.2f} Gbit/s  {r.gbytes:5.2f} GB"
                      + (f"  {r.cpu_s_per_gb:.2f} CPU-s/GB" if r.cpu_s_per_gb is not None else "")
                      + ("  honeypot DROPPED" if r.dropped else ""), flush=True)
    finally:
        if haproxy is not None:
            haproxy.close()
        client.send(None)
        for p in procs:
            p.terminate()
            p.join(5)
    print(f"\nhoneypot limit {limit >> 20} MiB; {args.runs} runs of {args.seconds:g} s each")
    _report(runs, paths)
    return 0


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _size(text: str) -> int:
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "": 1}
    t = text.strip().lower()
    num = t.rstrip("kmgib")
    return int(float(num) * units[t[len(num):]])


def _report(runs: list[Run], paths: tuple[str, ...]) -> None:
    med: dict[str, dict[str, float | None]] = {}
    for path in paths:
        rs = [r for r in runs if r.path == path]
        med[path] = {
            "gbit_s": statistics.median(r.gbit_s for r in rs),
            "min": min(r.gbit_s for r in rs),
            "max": max(r.gbit_s for r in rs),
            "cpu": _median([r.cpu_s_per_gb for r in rs]),
            "sys": _median([r.syscalls_per_gb for r in rs]),
            "hp": statistics.median(r.honeypot_gbytes / r.gbytes for r in rs)
            if path in ("uvloop", "splice") else None,
            "drops": sum(r.dropped for r in rs),
        }
    direct = med["direct"]["gbit_s"] or 1e-9
    print(f"\n{'path':8} {'Gbit/s':>7} {'(range)':>13} {'x direct':>9} {'CPU-s/GB':>9} "
          f"{'syscalls/GB':>12} {'hp/main':>8} {'drops':>6}")
    for path in paths:
        m = med[path]
        cpu = f"{m['cpu']:.2f}" if m["cpu"] is not None else "-"
        sc = f"{m['sys']:.0f}" if m["sys"] is not None else "-"
        hp = f"{m['hp']:.3f}" if m["hp"] is not None else "-"
        print(f"{path:8} {m['gbit_s']:7.2f} {m['min']:6.2f}-{m['max']:<6.2f} "
              f"{(m['gbit_s'] or 0) / direct:9.2f} {cpu:>9} {sc:>12} {hp:>8} {m['drops']:>6}")
    print()
    pairs = [("splice", "uvloop"), ("splice1", "uvloop1")]
    if "haproxy" in med:
        pairs += [("splice", "haproxy"), ("splice1", "haproxy")]
    for a, b in pairs:
        ma, mb = med[a], med[b]
        line = f"{a} / {b}: {(ma['gbit_s'] or 0) / (mb['gbit_s'] or 1e-9):.2f}x throughput"
        if ma["cpu"] and mb["cpu"]:
            line += f", {mb['cpu'] / ma['cpu']:.2f}x less CPU per GB"
        print(line)
    print("hp/main: bytes the honeypot got per byte main got (1.000 = fully mirrored)")


if __name__ == "__main__":
    sys.exit(main())
