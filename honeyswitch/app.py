"""The daemon: one process that relays, detects and records (or one worker of several).

:class:`App` wires the parts together and carries out what they decide; it decides
nothing itself.  Who calls whom:

- each session's runner reports through the narrow
  :class:`~honeyswitch.relay.runner.RelayContext` (events, switch, backend legs, end);
- the :class:`~honeyswitch.policy.hub.Policy` takes those facts, every alert and every
  IDS line, and returns decisions (record, blacklist, switch, alert a session, save an
  incident), which :meth:`App.carry_out` runs;
- the control API asks through :class:`~honeyswitch.api.operations.ControlPort` and
  :class:`~honeyswitch.api.operations.RelayPort` (a supervisor asks a worker's the same way);
- a reload goes through :class:`~honeyswitch.reload.ReloadTarget`;
- with ``[cluster]``, the sync component (:class:`~honeyswitch.fleet.sync.FleetSync`, one
  per relay process) reaches the daemon through :class:`~honeyswitch.fleetport.FleetPort`,
  and the daemon publishes its decisions through the component's ``publish_*`` calls,
  which never wait for Redis.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import __version__, sdnotify, signals
from .api.operations import Answer, answer_each
from .config import Config, ServiceConfig
from .core.types import AlertRaised, End, State, SwitchRequested
from .detect.base import Alert, FlowInfo, Inspection
from .detect.feed import IdsFeed
from .detect.ids import IdsAlert
from .detect.setup import Detectors
from .events import build_event, make_event
from .intercept.kernelset import KernelBlacklist
from .intercept.origdst import original_dst_or
from .policy.decisions import (
    AlertSession,
    Decision,
    ListSource,
    PublishShare,
    Record,
    SaveIncident,
    SwitchClient,
)
from .policy.hub import Policy
from .record.files import Records
from .record.recorder import Recorder
from .record.tally import EventTally
from .record.tally import snapshot as tally_snapshot
from .record.transcripts import TranscriptStore
from .record.writer import Writer
from .relay import sockets
from .relay.backends import Peer
from .relay.conns import AcceptedConn
from .relay.flusher import HoneypotFlusher
from .relay.ids import new_session_id
from .relay.listener import bound_ports, listen
from .relay.registry import Registry, describe
from .relay.runner import LiveSession, SessionRunner, Transcript
from .store.blacklist import Blacklist
from .store.db import Store
from .tasks import cancel_all, spawn
from .tls.gate import TlsGate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .cluster.worker import WorkerEndpoint, WorkerSetup
    from .fleet.ports import Fleet

log = logging.getLogger(__name__)
HOUSEKEEPING_INTERVAL = 1.0  # seconds between idle-timeout, blacklist-expiry and policy sweeps
Listener = Callable[[dict[str, Any]], None]


class App:
    """One honeyswitch daemon process."""

    def __init__(self, config: Config, worker: WorkerSetup | None = None) -> None:
        self.config = config
        self._services = {svc.name: svc for svc in config.services}  # by name, for accept()
        self.worker = worker  # set in a worker process of a supervisor ([daemon] workers > 1)
        self.endpoint: WorkerEndpoint | None = None
        self.registry = Registry()
        self.detectors = Detectors()
        self.policy = Policy(config, listed=self._listed,
                             owns_source=worker.owns_source if worker is not None else lambda ip: True)
        self.feeds: list[IdsFeed] = []
        self.servers: dict[str, list[asyncio.Server]] = {}
        self.blacklist: Blacklist | None = None
        self.kernel_set: KernelBlacklist | None = None  # [firewall] blacklist_set
        self.packet: Any = None  # PacketMode of the mode = "packet" services (honeyswitch.packet.mode)
        self.records: Records | None = None  # writer thread, store, event log (from start())
        self.transcripts: TranscriptStore | None = None
        self.api: Any = None
        self.fleet: Fleet | None = None  # [cluster]: the sync component (from start())
        self.counters: dict[str, int] = {}
        self.started = time.time()
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop start() runs on
        self._flushers: dict[float, HoneypotFlusher] = {}  # by honeypot_batch delay
        self._stopping = asyncio.Event()
        self.recorder = Recorder()
        self.tally = EventTally()  # what /metrics counts; cheaper than a metric per event
        self.recorder.subscribe(self.tally)
        # TLS services: handshakes in progress, and failures counted into self.counters.
        self.tls_gate = TlsGate(lambda kind, fields: self.record(make_event(kind, None, **fields)),
                                counters=self.counters, current=self._tls_settings)

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        cfg = self.config
        self.records = Records.open(cfg, self.recorder)
        self.blacklist = Blacklist(self.records.store, cfg.blacklist, on_change=self.record)
        self.transcripts = TranscriptStore(
            cfg.transcripts_dir, cfg.transcript_history, cfg.transcript_max, writer=self.records.writer,
            history_total=cfg.transcript_history_total,
        )
        try:
            self.detectors = Detectors.build(cfg)  # ConfigError: refuse to start
            await self._start_fleet()
            await self._start_feeds()
            w = self.worker
            for svc in cfg.services:
                socks = w.listeners.get(svc.name) if w is not None else None
                self.servers[svc.name] = await listen(svc, self.accept, socks=socks, reuse_port=w is not None,
                                                      tls_gate=self.tls_gate)
            from .packet.mode import start_packet_mode

            self.packet = await start_packet_mode(self)
            if w is not None:
                from .cluster.worker import WorkerEndpoint

                self.endpoint = WorkerEndpoint(self, w)
                await self.endpoint.start()
                spawn(self._watch_supervisor(), name="housekeeping-supervisor")
            elif cfg.control.listen is not None:
                from .api.server import start_api

                self.api = await start_api(self, cfg.control)
        except BaseException:
            await self.stop()
            raise
        self._install_signals()
        spawn(self._housekeeping(), name="housekeeping")
        if self.worker is None:  # the supervisor keeps the kernel's copy for all workers
            self.kernel_set = KernelBlacklist.from_config(cfg.firewall, self.blacklist)
        if self.kernel_set is not None:
            self.kernel_set.start()
        self.record(make_event("daemon_start", None, version=__version__, pid=os.getpid(), config=cfg.source,
                               services=[s.name for s in cfg.services],
                               worker=None if self.worker is None else self.worker.index))
        # Everything loaded so far (rules, models, config, modules) lives as long as the
        # process: move it out of the garbage collector's sight.  With the ET slice a full
        # collection would otherwise walk ~100k objects, a pause of ~100 ms per sweep.
        gc.freeze()
        if self.endpoint is not None:
            self.endpoint.channel.notify({"ready": True})
        else:
            sdnotify.ready("relaying")  # systemd Type=notify (a no-op elsewhere)

    async def _start_fleet(self) -> None:
        """[cluster]: start syncing (it returns at once; Redis may come later)."""
        cfg = self.config
        if cfg.cluster is None:
            return
        from . import extras

        extras.require("cluster")  # MissingExtra (a ConfigError): one line, exit 2
        from .fleet.sync import FleetSync
        from .fleetport import FleetPort

        self.fleet = FleetSync(cfg.cluster, FleetPort(self), half_life=cfg.detection.scoring.half_life,
                               worker=None if self.worker is None else self.worker.index)
        await self.fleet.start()

    async def _start_feeds(self) -> None:
        for source in self.config.detection.ids:
            feed = IdsFeed(source, self._ids_alert)
            try:
                await feed.start()
            except (OSError, ValueError) as e:
                self.detector_failed(f"ids:{source.name}", e)
                continue
            self.feeds.append(feed)

    async def run(self) -> None:
        await self.start()
        try:
            await self._stopping.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        if self.worker is None and not self._stopping.is_set():
            sdnotify.stopping()
        self._stopping.set()

    async def stop(self) -> None:
        for servers in self.servers.values():
            for s in servers:
                s.close()
        self.servers.clear()
        if self.packet is not None:
            await self.packet.stop()
            self.packet = None
        for runner in self.registry:
            runner.terminate("daemon stopping")
        for flusher in self._flushers.values():
            flusher.close()
        self._flushers.clear()
        if self.api is not None:
            await self.api.cleanup()
            self.api = None
        self._remove_signals()
        if self.endpoint is not None:
            self.endpoint.stop()
        for feed in self.feeds:
            await feed.stop()
        self.feeds.clear()
        if self.records is not None:
            self.record(make_event("daemon_stop", None))
        if self.fleet is not None:  # what waits is sent (briefly), the roster left
            await self.fleet.stop()
            self.fleet = None
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

    def accept(self, service: ServiceConfig, client: AcceptedConn) -> SessionRunner | None:
        assert client.transport is not None
        current = self._services.get(service.name)  # the current settings, after a reload
        if current is None:
            client.close(reset=True)
            return None
        service = current
        src_ip, src_port = sockets.peer(client.transport)
        dest_ip, dest_port = sockets.local(client.transport)
        if service.intercept == "redirect" or self.config.firewall.blacklist_set:
            # REDIRECT rewrote the destination; conntrack kept the original.
            dest_ip, dest_port = original_dst_or(client.transport.get_extra_info("socket"), (dest_ip, dest_port))
        peer = Peer(new_session_id(), src_ip, src_port, dest_ip, dest_port, tls=client.handshake)
        # session_setup()'s values passed by name: a call with ** is a generic call under
        # mypyc, 5k instructions a connection more.
        policy = self.policy
        runner = SessionRunner(self, service, client, peer, direct=self._listed(src_ip),
                               inspector=self._inspection(service, peer),
                               source_score=policy.source_score_of(src_ip, time.time),
                               source_threshold=policy.source_threshold,
                               loop=self.loop, flusher=self._flusher(service.honeypot_batch))
        self.session_opened(runner)
        runner.start()
        return runner

    def session_setup(self, service: ServiceConfig, peer: Peer) -> dict[str, Any]:
        """What a new session's core starts with (packet mode's flows; accept() passes the
        same values by name)."""
        policy = self.policy
        return {"direct": self._listed(peer.src_ip), "inspector": self._inspection(service, peer),
                "source_score": policy.source_score_of(peer.src_ip, time.time),
                "source_threshold": policy.source_threshold}

    def session_opened(self, runner: LiveSession) -> None:
        """A new session (a SessionRunner, or packet mode's PacketRunner) is live."""
        self.registry.add(runner)
        self.policy.session_started(self._fields(runner))
        self._count("sessions_direct" if runner.session.state is State.DIRECT else "sessions_mirrored")

    def _flusher(self, delay: float) -> HoneypotFlusher | None:
        """The loop's flusher of honeypot copies held ``delay`` seconds (one per delay the
        services use); None for 0, copies sent at once."""
        if delay <= 0 or self.loop is None:
            return None
        flusher = self._flushers.get(delay)
        if flusher is None:
            flusher = self._flushers[delay] = HoneypotFlusher(self.loop, delay)
        return flusher

    def _inspection(self, service: ServiceConfig, peer: Peer) -> Inspection | None:
        if service.name not in self.detectors.by_service:
            return None  # no detectors: no FlowInfo or error closure to build
        flow = FlowInfo(service.name, peer.session_id, peer.src_ip, peer.src_port, peer.dest_ip, peer.dest_port)

        def failed(detector: str, error: BaseException) -> None:
            self.detector_failed(detector, error, flow)
        return self.detectors.inspection(service.name, flow, failed)

    def _listed(self, ip: str) -> bool:
        return self.blacklist is not None and self.blacklist.is_listed(ip)

    # ------------------------------------------------------------ RelayContext

    def emit(self, event_type: str, runner: LiveSession | None, fields: dict[str, Any]) -> None:
        event = build_event(event_type, None if runner is None else self._fields(runner), fields)
        self.record(event)
        if event_type == "alert":
            self.carry_out(self.policy.alert(event, time.time()))

    def open_transcript(self, runner: LiveSession) -> Transcript:
        assert self.transcripts is not None

        def meta() -> dict[str, Any]:  # only if the transcript is persisted
            return {**self._fields(runner), "main": runner.service.main.url, "honeypot": runner.service.honeypot.url}
        return self.transcripts.open(runner.id, meta)

    def on_switch(self, runner: LiveSession) -> None:
        self._count("switches")
        self.carry_out(self.policy.session_switched(self._fields(runner), runner.session.switched_by or "switch"))

    def on_backend_open(self, runner: LiveSession, end: End, transport: Any) -> None:
        # The leg's addresses (two system calls) only for the policy's IDS matching.
        if transport is not None and self.policy.follows_ids:
            self.policy.backend_opened(self._fields(runner), sockets.local(transport), sockets.peer(transport))

    def on_session_end(self, runner: LiveSession) -> None:
        self.registry.remove(runner)
        self.policy.session_ended(self._fields(runner), time.time())
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

    @staticmethod
    def _fields(runner: LiveSession) -> dict[str, Any]:
        """The session's common event fields, built once per session."""
        fields = runner.event_fields
        if fields is None:
            p = runner.peer
            fields = runner.event_fields = {
                "session_id": p.session_id, "service": runner.service.name, "src_ip": p.src_ip,
                "src_port": p.src_port, "dest_ip": p.dest_ip, "dest_port": p.dest_port,
            }
        return fields

    # ------------------------------------------------------------- decisions

    def carry_out(self, decisions: Sequence[Decision]) -> None:
        """Run the policy's decisions in order; an unknown one is a bug and raises."""
        for d in decisions:
            kind = type(d)
            if kind is Record:
                self.record(d.event)  # type: ignore[union-attr]
            elif kind is ListSource:
                if self.blacklist is not None:
                    entry = self.blacklist.add(d.ip, reason=d.reason, by=d.by)  # type: ignore[union-attr]
                    if entry is not None and self.fleet is not None:
                        self.cluster_publish({"add": entry, "at": time.time()})
            elif kind is SwitchClient:
                self.switch_client(d.ip, d.by, d.reason)  # type: ignore[union-attr]
            elif kind is AlertSession:
                runner = self.registry.get(d.session_id)  # type: ignore[union-attr]
                if runner is not None and not runner.finished:
                    a: Alert = d.alert  # type: ignore[union-attr]
                    runner.request(AlertRaised(a.score, a.detector, a.reason, a.details))
            elif kind is SaveIncident:
                if self.store is not None:
                    self.store.upsert_incident(d.incident)  # type: ignore[union-attr]
            elif kind is PublishShare:
                if self.fleet is not None:
                    self.fleet.publish_share(d.share)  # type: ignore[union-attr]
            else:
                raise TypeError(f"unknown decision {d!r}")

    def _ids_alert(self, feed: str, ids_alert: IdsAlert, alert: Alert) -> None:
        self.carry_out(self.policy.ids_alert(feed, ids_alert, alert, time.time()))

    def detector_failed(self, detector: str, error: BaseException, session: Any = None) -> None:
        """A detector or alert feed failed (the daemon goes on without it): log, count, record."""
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        log.error("%s: %s", detector, message)
        self._count("detector_errors")
        self.record(make_event("detector_error", session, detector=detector, error=message[:500]))

    # ----------------------------------------------------- the relay's port

    def live_sessions(self) -> list[dict[str, Any]]:
        return self.registry.describe()

    def live_session(self, session_id: str) -> dict[str, Any] | None:
        runner = self.registry.get(session_id)
        return None if runner is None else describe(runner)

    def switch_session(self, session_id: str, by: str, reason: str = "") -> bool | None:
        """Switch a live session; None if there is none, False if it has no honeypot
        (its ``no_honeypot`` policy then applies)."""
        runner = self.registry.get(session_id)
        if runner is None:
            return None
        if runner.session.state in (State.MIRROR, State.MAIN_ONLY):
            runner.request(SwitchRequested(by, reason))
        return runner.session.reached_honeypot

    def switch_client(self, ip: str, by: str, reason: str = "") -> list[str]:
        return [r.id for r in self.registry.by_client(ip) if self.switch_session(r.id, by, reason)]

    def switch_all(self, by: str, reason: str = "") -> list[str]:
        return [r.id for r in self.registry.mirrored() if self.switch_session(r.id, by, reason)]

    def relay_health(self) -> dict[str, Any]:
        out = {"sessions": len(self.registry), "counters": dict(self.counters)}
        if self.fleet is not None:
            out["cluster"] = self.fleet.health()
        return out

    def source_scores(self, limit: int) -> list[dict[str, Any]]:
        now = time.time()
        rows = self.policy.source_scores(now, limit)
        if self.fleet is not None:  # the other nodes' parts, for the join to add up
            for row in rows:
                part = self.fleet.remote_source(row["src_ip"], now)
                row.update(node=self.fleet.node, nodes=part["by_node"], incident=part["incident"])
        return rows

    def ids_status(self) -> dict[str, Any]:
        counts = self.policy.ids_counts
        return {f.source.name: {**f.stats(), **counts.get(f.source.name, {"matched": 0, "unmatched": 0})}
                for f in self.feeds}

    def metrics_snapshot(self) -> dict[str, Any]:
        out = tally_snapshot(self)
        if self.fleet is not None:
            out["cluster"] = self.fleet.stats()
        return out

    async def cluster_sessions(self) -> dict[str, Any] | None:
        return None if self.fleet is None else await self.fleet.cluster_sessions()

    async def cluster_switch(self, session_id: str | None, client: str | None,
                             reason: str) -> list[dict[str, Any]] | None:
        if self.fleet is None:
            return None
        from .fleet.model import SwitchTarget

        results = await self.fleet.switch_anywhere(SwitchTarget(session_id, client), "operator", reason)
        return [r.as_dict() for r in results]

    def cluster_publish(self, change: dict[str, Any]) -> None:
        """Send the other hosts a blacklist change made here (``{"add": entry, "at": t}``
        or ``{"remove": ip, "by": who, "at": t}``); it never waits for Redis."""
        if self.fleet is None:
            return
        if "add" in change:
            from .fleetport import entry_of

            self.fleet.publish_blacklist(entry_of(change["add"], at=change["at"]))
        else:
            self.fleet.publish_unblacklist(change["remove"], change["by"], change["at"])

    def cluster_events(self, since: str) -> AsyncIterator[dict[str, Any]] | None:
        return None if self.fleet is None else self.fleet.follow_events(since)

    # --------------------------------------------------- the control port

    @property
    def workers(self) -> int:
        return 1

    async def ask_relays(self, name: str, args: dict[str, Any], any_one: bool = False) -> list[Answer]:
        return [Answer(None, await self.answer(name, args))]

    async def answer(self, name: str, args: dict[str, Any]) -> Any:
        """This process's part of operation ``name`` (a worker's channel asks this too)."""
        return await answer_each(self, name, args)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Receive every event (dashboard, tests); returns the unsubscribe function."""
        self.recorder.subscribe(listener)
        return lambda: self.recorder.unsubscribe(listener)

    # -------------------------------------------------- the reload's port

    def use(self, config: Config, detectors: Detectors) -> None:
        """New sessions use ``config`` and ``detectors``; live ones keep what they have."""
        self.config = config
        self._services = {svc.name: svc for svc in config.services}
        self.detectors = detectors
        self.policy.reconfigure(config)
        if self.packet is not None:  # new packet-mode flows take the new settings
            self.packet.set_services([s for s in config.services if s.mode == "packet"])
        if self.blacklist is not None:
            self.blacklist.config = config.blacklist

    @property
    def binds_listeners(self) -> bool:
        return self.worker is None  # a worker's sockets were bound by its supervisor, once

    async def relisten(self, service: ServiceConfig) -> None:
        self.unlisten(service.name)
        self.servers[service.name] = await listen(service, self.accept, tls_gate=self.tls_gate)

    def unlisten(self, name: str) -> None:
        for server in self.servers.pop(name, []):
            server.close()

    def record(self, event: dict[str, Any]) -> None:
        self.recorder.record(event)
        if self.fleet is not None:
            self.fleet.publish_event(event)  # the cluster's stream (bounded, never waits)
        if event.get("event_type") == "config_reload" and self.worker is None:
            sdnotify.ready("relaying")  # the reload that RELOADING=1 announced is over
        if self.kernel_set is not None and str(event.get("event_type")).startswith("blacklist_"):
            self.kernel_set.changed()  # the kernel's copy follows; its failures stay in it

    # --------------------------------------------------------------- internals

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
            self.carry_out(self.policy.tick(time.time()))

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
        if self.worker is None:
            sdnotify.reloading()  # READY=1 follows with the config_reload event
        if self.records is not None:
            self.records.eventlog.reopen()
        from .reload import reload_config

        reload_config(self)


def _final_state(runner: LiveSession) -> str:
    s = runner.session
    if s.reached_honeypot:
        return "direct" if s.switched_by is None else "honeypot"
    return "mirror"

