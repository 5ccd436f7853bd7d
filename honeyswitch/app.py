"""The daemon: wires config, store, recorders, listeners and the control API together.

:class:`App` is the :class:`~honeyswitch.relay.runner.RelayContext` of every session:
sessions report their events, switches and ends to it, and it turns those into records,
blacklist entries and store rows.  Operators reach it through the control API, the CLI
and signals.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import __version__, signals
from .api.control import EventTally, LocalControl
from .config import Config, ServiceConfig
from .core.types import End, State, SwitchRequested
from .detect.hub import DetectionHub
from .events import build_event, make_event
from .intercept.kernelset import KernelBlacklist
from .intercept.origdst import original_dst_or
from .record.eventlog import EventLog
from .record.files import Records
from .record.recorder import Recorder
from .record.transcripts import TranscriptStore
from .record.writer import Writer
from .relay import sockets
from .relay.backends import Peer
from .relay.ids import new_session_id
from .relay.listener import ClientConn, bound_ports, listen
from .relay.registry import Registry
from .relay.runner import SessionRunner, Transcript
from .store.blacklist import Blacklist
from .store.db import Store
from .tasks import spawn
from .tls.gate import TlsGate

if TYPE_CHECKING:
    from .cluster.worker import WorkerEndpoint, WorkerSetup

log = logging.getLogger(__name__)
HOUSEKEEPING_INTERVAL = 1.0  # seconds between idle-timeout and blacklist-expiry sweeps


class App:
    """One honeyswitch daemon process."""

    def __init__(self, config: Config, worker: WorkerSetup | None = None) -> None:
        self.config = config
        self.worker = worker  # set in a worker process of a supervisor ([daemon] workers > 1)
        self.endpoint: WorkerEndpoint | None = None
        self.registry = Registry()
        self.detection = DetectionHub(self)
        self.servers: dict[str, list[asyncio.Server]] = {}
        self.blacklist: Blacklist | None = None
        self.kernel_set: KernelBlacklist | None = None  # [firewall] blacklist_set
        self.records: Records | None = None  # writer thread, store, event log (from start())
        self.transcripts: TranscriptStore | None = None
        self.api: Any = None
        self.counters: dict[str, int] = {}
        self.started = time.time()
        self._stopping = asyncio.Event()
        self.recorder = Recorder()
        self.tally = EventTally()  # what /metrics counts; cheaper than a metric per event
        self.recorder.subscribe(self.tally)
        # TLS services: handshakes in progress, and failures counted into self.counters.
        self.tls_gate = TlsGate(lambda kind, fields: self._record(make_event(kind, None, **fields)),
                                counters=self.counters, current=self._tls_settings)

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        cfg = self.config
        self.records = Records.open(cfg, self.recorder)
        self.blacklist = Blacklist(self.records.store, cfg.blacklist, on_change=self._record)
        self.transcripts = TranscriptStore(
            cfg.transcripts_dir, cfg.transcript_history, cfg.transcript_max, writer=self.records.writer,
            history_total=cfg.transcript_history_total,
        )
        try:
            await self.detection.start()
            w = self.worker
            for svc in cfg.services:
                socks = w.listeners.get(svc.name) if w is not None else None
                self.servers[svc.name] = await listen(svc, self.accept, socks=socks, reuse_port=w is not None,
                                                      tls_gate=self.tls_gate)
            if w is not None:
                from .cluster.worker import WorkerEndpoint

                self.endpoint = WorkerEndpoint(self, w)
                await self.endpoint.start()
                spawn(self._watch_supervisor(), name="housekeeping-supervisor")
            elif cfg.control.listen is not None:
                from .api.server import start_api

                self.api = await start_api(LocalControl(self), cfg.control)
        except BaseException:
            await self.stop()
            raise
        self._install_signals()
        spawn(self._housekeeping(), name="housekeeping")
        if self.worker is None:  # the supervisor keeps the kernel's copy for all workers
            self.kernel_set = KernelBlacklist.from_config(cfg.firewall, self.blacklist)
        if self.kernel_set is not None:
            self.kernel_set.start()
        self._record(make_event("daemon_start", None, version=__version__, pid=os.getpid(), config=cfg.source,
                                services=[s.name for s in cfg.services],
                                worker=None if self.worker is None else self.worker.index))
        # Everything loaded so far (rules, models, config, modules) lives as long as the
        # process: move it out of the garbage collector's sight.  With the ET slice a full
        # collection would otherwise walk ~100k objects, a pause of ~100 ms per sweep.
        gc.freeze()
        if self.endpoint is not None:
            self.endpoint.channel.notify({"ready": True})

    async def run(self) -> None:
        await self.start()
        try:
            await self._stopping.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stopping.set()

    async def stop(self) -> None:
        for servers in self.servers.values():
            for s in servers:
                s.close()
        self.servers.clear()
        for runner in self.registry:
            runner.terminate("daemon stopping")
        if self.api is not None:
            await self.api.cleanup()
            self.api = None
        self._remove_signals()
        if self.endpoint is not None:
            self.endpoint.stop()
        await self.detection.stop()
        if self.eventlog is not None:
            self._record(make_event("daemon_stop", None))
        from .tasks import cancel_all

        await cancel_all("housekeeping")
        if self.kernel_set is not None:
            await self.kernel_set.stop()
        if self.transcripts is not None:
            self.transcripts.close()
        if self.records is not None:
            self.records.close(self.recorder)
        gc.unfreeze()  # what start() froze can be collected again (tests run many apps)

    @property
    def writer(self) -> Writer | None:
        return None if self.records is None else self.records.writer

    @property
    def store(self) -> Store | None:
        return None if self.records is None else self.records.store

    @property
    def eventlog(self) -> EventLog | None:
        return None if self.records is None else self.records.eventlog

    async def _watch_supervisor(self) -> None:
        """A worker stops when its supervisor goes away (its channel closes)."""
        assert self.endpoint is not None
        await self.endpoint.channel.closed.wait()
        if not self._stopping.is_set():
            log.warning("supervisor went away; stopping")
            self.request_stop()

    def listening(self, service: str) -> list[tuple[str, int]]:
        return bound_ports(self.servers.get(service, []))

    # ---------------------------------------------------------- new sessions

    def accept(self, service: ServiceConfig, client: ClientConn) -> SessionRunner | None:
        assert client.transport is not None
        try:
            service = self.config.service(service.name)  # the current settings, after a reload
        except KeyError:
            client.close(reset=True)
            return None
        src_ip, src_port = sockets.peer(client.transport)
        dest_ip, dest_port = sockets.local(client.transport)
        if service.intercept == "redirect" or self.config.firewall.blacklist_set:
            # REDIRECT rewrote the destination; conntrack kept the original.
            dest_ip, dest_port = original_dst_or(client.transport.get_extra_info("socket"), (dest_ip, dest_port))
        peer = Peer(new_session_id(), src_ip, src_port, dest_ip, dest_port, tls=getattr(client, "handshake", None))
        direct = self.blacklist is not None and self.blacklist.is_listed(src_ip)
        runner = SessionRunner(
            self, service, client, peer, direct=direct, inspector=self.detection.inspector(service, peer),
            source_score=self.detection.source_score_of(src_ip),
            source_threshold=self.detection.scoring.config.blacklist_threshold,
        )
        self.registry.add(runner)
        self.detection.session_started(runner)
        self._count("sessions_direct" if direct else "sessions_mirrored")
        runner.start()
        return runner

    # ------------------------------------------------------------ RelayContext

    def emit(self, event_type: str, runner: SessionRunner | None, fields: dict[str, Any]) -> None:
        self._record(build_event(event_type, _session_fields(runner), fields))

    def open_transcript(self, runner: SessionRunner) -> Transcript:
        assert self.transcripts is not None
        def meta() -> dict[str, Any]:  # only if the transcript is persisted
            return {**(_session_fields(runner) or {}), "main": runner.service.main.url,
                    "honeypot": runner.service.honeypot.url}

        return self.transcripts.open(runner.id, meta)

    def on_switch(self, runner: SessionRunner) -> None:
        self._count("switches")
        if self.config.blacklist.on_switch and self.blacklist is not None:
            by = runner.session.switched_by or "switch"
            self.blacklist.add(runner.peer.src_ip, reason=f"session {runner.id} switched ({by})", by=by)

    def on_backend_open(self, runner: SessionRunner, end: End, transport: Any) -> None:
        self.detection.backend_opened(runner, end, transport)

    def on_session_end(self, runner: SessionRunner) -> None:
        self.registry.remove(runner)
        self.detection.session_ended(runner)
        s = runner.session
        path = runner.transcript.close()
        fields = {
            "state": _final_state(runner),
            "reason": s.close_reason or "closed",
            "duration": round((runner.ended or time.time()) - runner.started, 6),
            "bytes_from_client": s.client_received,
            "bytes_main_to_client": s.main_sent,
            "bytes_from_honeypot": s.hp_received,
            "score": s.score,
            "switched": s.switched_by is not None,
            "transcript": str(path) if path else None,
        }
        self.emit("session_end", runner, fields)

    # ----------------------------------------------------------- operator side

    def switch_session(self, session_id: str, by: str, reason: str = "") -> bool:
        """Switch a live session; False if it has no honeypot (its policy then applies)."""
        runner = self.registry.get(session_id)
        if runner is None:
            return False
        if runner.session.state in (State.MIRROR, State.MAIN_ONLY):
            runner.request(SwitchRequested(by, reason))
        return runner.session.reached_honeypot

    def switch_client(self, ip: str, by: str, reason: str = "") -> list[str]:
        switched = []
        for runner in self.registry.by_client(ip):
            if self.switch_session(runner.id, by, reason):
                switched.append(runner.id)
        return switched

    def switch_all(self, by: str, reason: str = "") -> list[str]:
        return [r.id for r in self.registry.mirrored() if self.switch_session(r.id, by, reason)]

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Receive every event (dashboard, tests); returns the unsubscribe function."""
        self.recorder.subscribe(callback)
        return lambda: self.recorder.unsubscribe(callback)

    # --------------------------------------------------------------- internals

    def _record(self, event: dict[str, Any]) -> None:
        self.recorder.record(event)
        if self.kernel_set is not None and str(event.get("event_type")).startswith("blacklist_"):
            self.kernel_set.changed()  # the kernel's copy follows; its failures stay in it

    def _tls_settings(self, service: str) -> Any:
        for svc in self.config.services:
            if svc.name == service:
                return svc.tls
        return None

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    async def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            for runner in self.registry.idle(loop.time()):
                runner.terminate("idle timeout")
            if self.blacklist is not None:
                self.blacklist.refresh()
                self.blacklist.expire()
            self.detection.tick()

    def _signal_names(self) -> tuple[str, str]:
        """(switch signal, reload signal): HUP reloads unless it is the switch signal."""
        return signals.names(self.config.control.switch_signal)

    def _install_signals(self) -> None:
        switch, reload = self._signal_names()
        signals.install({switch: self._on_switch_signal, reload: self._on_reload_signal,
                         "TERM": self.request_stop, "INT": self.request_stop})

    def _remove_signals(self) -> None:
        signals.remove((*self._signal_names(), "TERM", "INT"))

    def _on_switch_signal(self) -> None:
        ids = self.switch_all("signal", f"SIG{self.config.control.switch_signal}")
        log.info("switch signal: %d session(s) switched", len(ids))

    def _on_reload_signal(self) -> None:
        if self.eventlog is not None:
            self.eventlog.reopen()
        from .reload import reload_config

        reload_config(self)


def _session_fields(runner: SessionRunner | None) -> dict[str, Any] | None:
    if runner is None:
        return None
    fields = runner.event_fields  # built once per session; events copy from it
    if fields is None:
        p = runner.peer
        fields = runner.event_fields = {
            "session_id": p.session_id,
            "service": runner.service.name,
            "src_ip": p.src_ip,
            "src_port": p.src_port,
            "dest_ip": p.dest_ip,
            "dest_port": p.dest_port,
        }
    return fields


def _final_state(runner: SessionRunner) -> str:
    s = runner.session
    if s.reached_honeypot:
        return "direct" if s.switched_by is None else "honeypot"
    return "mirror"
