"""The supervisor: ``honeyswitch run`` when ``[daemon] workers`` is more than 1.

It binds every listening socket (one ``SO_REUSEPORT`` socket per worker and address),
starts the workers as fresh processes with their sockets, serves the control API and
the dashboard for all of them, forwards signals, and starts a worker again when one
dies.  It relays no traffic itself.  The SQLite store and the blacklist are shared
through the database file: a source blacklisted in one process is seen by the others at
their next refresh (each second), and every new session checks it.

Sockets stay open in the supervisor while a worker restarts, so connections the kernel
hands to that worker's socket wait in its backlog instead of being refused.
"""
from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .. import __version__, sdnotify, signals
from ..api.operations import Answer, Listener
from ..config import Config, ConfigError, load
from ..events import make_event
from ..intercept.kernelset import KernelBlacklist
from ..record.files import Records
from ..record.recorder import Recorder
from ..store.blacklist import Blacklist
from ..store.db import Store
from ..tasks import cancel_all, spawn
from .channel import Channel
from .reuseport import bind_group

log = logging.getLogger(__name__)
READY_TIMEOUT = 120.0  # rules and models load in each worker before it is ready
STOP_GRACE = 10.0
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
POLL = 0.2


class WorkerProc:
    """One worker: its process, its channel, whether it said it is ready."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: Channel | None = None
        self.ready = asyncio.Event()
        self.failures = 0  # exits in a row without settling (for the backoff)
        self.started = 0.0
        self.restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class StartupError(RuntimeError):
    """A worker could not start (its own error is on stderr)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.count = config.daemon.workers
        self.shard = config.daemon.shard
        self.listeners: dict[str, list[list[socket.socket]]] = {}  # service -> per address -> per worker
        self.procs = [WorkerProc(i) for i in range(self.count)]
        self.records: Records | None = None  # writer thread, store, event log (from start())
        self.blacklist: Blacklist | None = None
        self.kernel_set: KernelBlacklist | None = None
        self.recorder = Recorder()
        self.api: Any = None
        self._listeners: list[Listener] = []
        self._stopping = asyncio.Event()
        self._stop_reason = "stopped"

    # -------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        try:
            await self.start()
            await self._stopping.wait()
        finally:
            await self.stop()

    async def start(self) -> None:
        cfg = self.config
        self._bind()
        self.records = Records.open(cfg, self.recorder)
        self.recorder.subscribe(self._publish)
        self.blacklist = Blacklist(self.records.store, cfg.blacklist, on_change=self._record)
        for worker in self.procs:
            self._spawn(worker)
        await self._wait_ready()
        if cfg.control.listen is not None:
            from ..api.server import start_api

            self.api = await start_api(self, cfg.control)
        self._install_signals()
        self.kernel_set = KernelBlacklist.from_config(cfg.firewall, self.blacklist)
        if self.kernel_set is not None:
            self.kernel_set.start()
        spawn(self._housekeeping(), name="supervisor-housekeeping")
        for name, groups in self.listeners.items():
            for group in groups:
                host, port = group[0].getsockname()[:2]
                log.info("service %s: listening on %s:%d (%d workers, shard by %s)", name, host, port,
                         self.count, self.shard)
        self._record(make_event("daemon_start", None, version=__version__, pid=os.getpid(),
                                config=cfg.source, services=[s.name for s in cfg.services], worker=None))
        gc.freeze()  # as App.start does
        sdnotify.ready(f"relaying with {self.count} workers")

    def request_stop(self, reason: str = "stopped") -> None:
        if not self._stopping.is_set():
            sdnotify.stopping()
        self._stop_reason = reason
        self._stopping.set()

    async def stop(self) -> None:
        await cancel_all("supervisor-housekeeping")
        self._remove_signals()
        if self.api is not None:
            await self.api.cleanup()
            self.api = None
        await self._stop_workers()
        if self.kernel_set is not None:
            await self.kernel_set.stop()
        if self.records is not None:
            self._record(make_event("daemon_stop", None, reason=self._stop_reason))
            self.records.close(self.recorder)
        self._close_sockets()

    @property
    def store(self) -> Store | None:
        return None if self.records is None else self.records.store

    # ---------------------------------------------------------------- workers

    def _bind(self) -> None:
        try:
            for svc in self.config.services:
                self.listeners[svc.name] = [
                    bind_group(host, port, self.count, transparent=svc.intercept == "tproxy", shard=self.shard)
                    for host, port in svc.listen
                ]
        except OSError as e:
            self._close_sockets()
            raise OSError(e.errno, f"cannot listen: {e.strerror or e}") from None

    def _close_sockets(self) -> None:
        for groups in self.listeners.values():
            for group in groups:
                for sock in group:
                    sock.close()
        self.listeners.clear()

    def _spawn(self, worker: WorkerProc) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fds = {name: [group[worker.index].fileno() for group in groups] for name, groups in self.listeners.items()}
        passed = [theirs.fileno(), *(fd for v in fds.values() for fd in v)]
        argv = [sys.executable, "-m", "honeyswitch.cluster.child", "--config", str(self.config.source),
                "--index", str(worker.index), "--count", str(self.count), "--shard", self.shard,
                "--channel-fd", str(theirs.fileno()), "--listen-fds", json.dumps(fds)]
        try:
            worker.proc = subprocess.Popen(argv, pass_fds=passed, stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        worker.started = time.monotonic()
        worker.restart_at = None
        worker.ready = asyncio.Event()
        worker.channel = Channel(f"supervisor-{worker.index}", notify=functools.partial(self._on_notify, worker))
        spawn(self._attach(worker, worker.channel, ours), name=f"supervisor-attach:{worker.index}")

    async def _attach(self, worker: WorkerProc, channel: Channel, sock: socket.socket) -> None:
        await channel.open(sock)
        if self._listeners:
            channel.notify({"stream": True})

    def _on_notify(self, worker: WorkerProc, message: dict[str, Any]) -> None:
        if message.get("ready"):
            worker.ready.set()
            log.info("worker %d ready (pid %s)", worker.index, worker.pid)
        elif isinstance(event := message.get("event"), dict):
            self._publish(event)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(w.ready.is_set() for w in self.procs):
            for w in self.procs:
                if not w.ready.is_set() and not w.alive():
                    code = w.proc.returncode if w.proc is not None else 1
                    await self._stop_workers()
                    raise StartupError(f"worker {w.index} exited during startup (status {code})", code or 1)
            if time.monotonic() > deadline:
                await self._stop_workers()
                raise StartupError(f"workers not ready within {READY_TIMEOUT:.0f}s", 1)
            await asyncio.sleep(0.05)

    async def _stop_workers(self) -> None:
        for w in self.procs:
            if w.alive():
                assert w.proc is not None
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while any(w.alive() for w in self.procs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for w in self.procs:
            if w.alive():
                assert w.proc is not None
                log.warning("worker %d did not stop within %.0fs; killing it", w.index, STOP_GRACE)
                w.proc.kill()
                w.proc.wait()
            if w.channel is not None:
                w.channel.close()

    def _check_workers(self) -> None:
        now = time.monotonic()
        for w in self.procs:
            if w.proc is None:
                continue
            if w.restart_at is not None:
                if now >= w.restart_at:
                    log.info("starting worker %d again", w.index)
                    try:
                        self._spawn(w)
                    except OSError as e:  # fork failed (memory, process limit): later
                        log.error("cannot start worker %d: %s", w.index, e)
                        w.restart_at = now + BACKOFF[-1]
                continue
            code = w.proc.poll()
            if code is None:
                if w.failures and now - w.started > 60:
                    w.failures = 0  # it settled
                continue
            delay = BACKOFF[min(w.failures, len(BACKOFF) - 1)]
            w.failures += 1
            w.restart_at = now + delay
            if w.channel is not None:
                w.channel.close()
            log.error("worker %d (pid %s) exited with status %s; starting it again in %.1fs",
                      w.index, w.pid, code, delay)
            self._record(make_event("worker_exit", None, worker=w.index, pid=w.pid, returncode=code,
                                    restart_in=delay))

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(POLL)
            self._check_workers()
            if self.blacklist is not None and self.blacklist.refresh() and self.kernel_set is not None:
                self.kernel_set.changed()  # a worker changed the blacklist
            if self.blacklist is not None:
                self.blacklist.expire()

    # ------------------------------------------------- the control port (fan-out)

    @property
    def workers(self) -> int:
        return self.count

    async def ask_relays(self, name: str, args: dict[str, Any], any_one: bool = False) -> list[Answer]:
        """Ask every live worker; the answers of those that answered.  With ``any_one``,
        the first worker that answers is enough (the others are asked only if it fails)."""
        live = self._live()
        if any_one:
            for w in live:
                try:
                    return [Answer(w.index, await self._call_one(w, name, args))]
                except (ConnectionError, TimeoutError, RuntimeError) as e:
                    log.warning("worker %d did not answer %s: %s", w.index, name, e)
            return []
        answers = await asyncio.gather(*(self._call_one(w, name, args) for w in live), return_exceptions=True)
        out = []
        for w, answer in zip(live, answers, strict=True):
            if isinstance(answer, BaseException):
                log.warning("worker %d did not answer %s: %s", w.index, name, answer)
            else:
                out.append(Answer(w.index, answer))
        return out

    def _live(self) -> list[WorkerProc]:
        return [w for w in self.procs if w.channel is not None and w.ready.is_set() and w.alive()]

    async def _call_one(self, worker: WorkerProc, name: str, args: dict[str, Any]) -> Any:
        assert worker.channel is not None
        return await worker.channel.call(name, **args)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        first = not self._listeners
        self._listeners.append(listener)
        if first:
            self._stream(True)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
                if not self._listeners:
                    self._stream(False)
        return unsubscribe

    def cluster_events(self, since: str) -> AsyncIterator[dict[str, Any]] | None:
        """[cluster]: the cluster's event stream, read from Redis by the supervisor itself."""
        if self.config.cluster is None:
            return None
        from ..fleet.eventstream import follow_cluster

        return follow_cluster(self.config.cluster, self.config.cluster.node(None) + "/supervisor", since)

    def _stream(self, on: bool) -> None:
        """Workers forward their events only while someone watches the live stream."""
        for w in self.procs:
            if w.channel is not None:
                w.channel.notify({"stream": on})

    # --------------------------------------------------------------- internals

    def _record(self, event: dict[str, Any]) -> None:
        self.recorder.record(event)
        if self.kernel_set is not None and str(event.get("event_type")).startswith("blacklist_"):
            self.kernel_set.changed()
        if self.config.cluster is not None and self.config.cluster.events:
            # The workers ship to the cluster's stream; one of them takes the supervisor's.
            for w in self._live():
                assert w.channel is not None
                w.channel.notify({"ship": event})
                break

    def _publish(self, event: dict[str, Any]) -> None:
        """An event to the live stream's listeners: a worker's (forwarded while someone
        watches), or the supervisor's own (blacklist changes through the API)."""
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed", listener)

    def _reload(self) -> None:
        """The supervisor's share of a reload: its event log, and the blacklist settings
        the API applies (each worker reloads the rest itself)."""
        if self.records is not None:
            self.records.eventlog.reopen()
        try:
            new = load(self.config.source)
        except ConfigError as e:
            log.error("reload refused: %s", e)  # each worker records its own refusal
            return
        if self.blacklist is not None:
            self.blacklist.config = new.blacklist

    def _signal_names(self) -> tuple[str, str]:
        return signals.names(self.config.control.switch_signal)

    def _install_signals(self) -> None:
        switch, reload = self._signal_names()
        signals.install({switch: functools.partial(self._forward, getattr(signal, "SIG" + switch)),
                         reload: functools.partial(self._forward, getattr(signal, "SIG" + reload)),
                         "TERM": functools.partial(self.request_stop, "SIGTERM"),
                         "INT": functools.partial(self.request_stop, "SIGINT")})

    def _remove_signals(self) -> None:
        signals.remove((*self._signal_names(), "TERM", "INT"))

    def _forward(self, sig: signal.Signals) -> None:
        """The switch and reload signals act in every worker."""
        reload = sig == getattr(signal, "SIG" + self._signal_names()[1])
        if reload:
            sdnotify.reloading()
            self._reload()
        for w in self.procs:
            if w.alive():
                assert w.proc is not None
                w.proc.send_signal(sig)
        if reload:
            sdnotify.ready(f"relaying with {self.count} workers")  # each worker reloads on its own
