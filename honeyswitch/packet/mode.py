"""Packet mode in the daemon: the app hands its ``mode = "packet"`` services to one
:class:`PacketMode`, which installs the queue rules, reads the queues, keeps the table of
live flows and runs each as a :class:`~.runner.PacketRunner`.

A packet is matched to a flow by its 4-tuple in one of three roles (client to main,
main to client, honeypot to client).  A client's SYN to a service opens a flow; any
other packet that belongs to no flow passes untouched, so connections that predate
the daemon, or outlive a flow, keep working.  A finished flow lingers a few seconds to
translate the last retransmitted FINs and ACKs, then leaves the table.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.types import End
from ..intercept.nfqueue import Injector, QueueReader, QueueRules
from ..intercept.queue import queue_matches
from ..intercept.runner import RunError
from ..relay.backends import Peer
from ..relay.ids import new_session_id
from .flow import Flow
from .headers import ACK, SYN, parse
from .legs import Addrs, opts_of
from .runner import PacketRunner
from .settings import INJECT_MARK

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger(__name__)
CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
LINGER = 10.0  # seconds a finished flow still translates stragglers
CLOSED_LINGER = 60.0  # ... and one whose session ended with its teardown unfinished
Key = tuple[bytes, int, bytes, int]


class PacketMode:
    def __init__(self, app: App, services: Sequence[Any]) -> None:
        self.app = app
        self.services: dict[tuple[bytes, int], Any] = {}
        self.set_services(services)
        self.flows: dict[Key, tuple[PacketRunner, End]] = {}
        self.readers: list[QueueReader] = []
        self.injector: Injector | None = None
        self.rules = QueueRules(queue_matches(services), INJECT_MARK, _tool(services))
        self.passed = 0  # packets of no flow, let through
        self.handled = 0  # packets read from the queues
        self._lingering: dict[str, asyncio.TimerHandle] = {}
        self._ticker: asyncio.TimerHandle | None = None

    def set_services(self, services: Sequence[Any]) -> None:
        """The services new flows use (a reload keeps live flows on theirs)."""
        self.services = {(ipaddress.ip_address(s.main.host).packed, s.main.port): s for s in services}

    async def start(self) -> None:
        self.injector = Injector(INJECT_MARK)
        try:
            for num in sorted({s.packet.queue for s in self.services.values()}):
                reader = QueueReader(num, self.handle)
                reader.start()
                self.readers.append(reader)
            tool = await asyncio.to_thread(self.rules.install)
        except RunError as e:
            await self.stop()
            raise OSError(f"packet mode: installing the queue rules failed: {e}") from None
        except BaseException:
            await self.stop()
            raise
        log.info("packet mode: %d service(s) on queue(s) %s, rules via %s", len(self.services),
                 ", ".join(str(r.num) for r in self.readers), tool)
        self._publish()

    def _publish(self) -> None:
        """Copy the counters into the app's (health, metrics, dashboard) once a second."""
        self.app.counters.update(self.counters())
        self._ticker = asyncio.get_running_loop().call_later(1.0, self._publish)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for handle in self._lingering.values():
            handle.cancel()
        self._lingering.clear()
        for runner in {r for r, _ in self.flows.values()}:
            runner.terminate("daemon stopping")
            runner.forget()
        self.flows.clear()
        try:
            await asyncio.to_thread(self.rules.remove)
        except Exception as e:  # the table stays: with fail-open its rules let packets pass
            log.error("packet mode: removing the queue rules failed: %s", e)
        for reader in self.readers:
            reader.close()
        self.readers.clear()
        if self.injector is not None:
            self.injector.close()
            self.injector = None

    # ----------------------------------------------------------------- packets

    def handle(self, raw: bytes) -> tuple[bool, bytes | None]:
        """One queued packet: (accept?, rewritten bytes or None)."""
        self.handled += 1
        pkt = parse(raw)
        if pkt is None:
            self.passed += 1
            return True, None
        entry = self.flows.get((pkt.src, pkt.sport, pkt.dst, pkt.dport))
        if entry is None or (entry[1] is CLIENT and pkt.flags & SYN and entry[0].flow.done):
            svc = self.services.get((pkt.dst, pkt.dport))
            if svc is None or pkt.flags & (SYN | ACK) != SYN or opts_of(pkt).signed:
                # Not a new connection to a service; or one signed with TCP-MD5/TCP-AO,
                # whose signature no rewrite keeps valid: main gets it untouched.
                self.passed += 1
                return True, None
            if entry is not None:
                self._drop(entry[0])
            runner = self._open(svc, pkt)
            if runner is None:
                return True, None
            out = runner.start(pkt)
        else:
            out = entry[0].packet(pkt, entry[1])
        return out.verdict.value == "accept", out.payload

    def _open(self, svc: Any, syn: Any) -> PacketRunner | None:
        app = self.app
        hp = ipaddress.ip_address(svc.honeypot.host).packed
        addrs = Addrs(syn.src, syn.sport, syn.dst, syn.dport, hp, svc.honeypot.port)
        src_ip = str(ipaddress.ip_address(syn.src))
        peer = Peer(new_session_id(), src_ip, syn.sport, str(ipaddress.ip_address(syn.dst)), syn.dport)
        flow = Flow(svc.policy, addrs, connect_timeout=svc.connect_timeout, **app.session_setup(svc, peer))
        assert self.injector is not None
        runner = PacketRunner(app, svc, flow, peer, self.injector.send, self._done, self.session_closed)
        self.flows[(addrs.client, addrs.cport, addrs.main, addrs.mport)] = (runner, CLIENT)
        self.flows[(addrs.main, addrs.mport, addrs.client, addrs.cport)] = (runner, MAIN)
        self.flows[(addrs.honeypot, addrs.hport, addrs.client, addrs.cport)] = (runner, HONEYPOT)
        app.session_opened(runner)
        return runner

    def _done(self, runner: PacketRunner) -> None:
        """The flow's TCP connection is over: it lingers, then leaves the table."""
        if runner.id not in self._lingering:
            loop = asyncio.get_running_loop()
            self._lingering[runner.id] = loop.call_later(LINGER, self._drop, runner)

    def _drop(self, runner: PacketRunner) -> None:
        handle = self._lingering.pop(runner.id, None)
        if handle is not None:
            handle.cancel()
        a = runner.flow.addrs
        for key in ((a.client, a.cport, a.main, a.mport), (a.main, a.mport, a.client, a.cport),
                    (a.honeypot, a.hport, a.client, a.cport)):
            if self.flows.get(key, (None,))[0] is runner:
                del self.flows[key]
        if not runner.flow.done:
            runner.terminate("flow expired")
        runner.forget()

    def session_closed(self, runner: PacketRunner) -> None:
        """The session ended before its connection did: bound how long it stays."""
        if runner.id not in self._lingering and not runner.flow.done:
            loop = asyncio.get_running_loop()
            self._lingering[runner.id] = loop.call_later(CLOSED_LINGER, self._drop, runner)

    def counters(self) -> dict[str, int]:
        inj = self.injector
        return {"packet_flows": len({r.id for r, _ in self.flows.values()}), "packets_queued": self.handled,
                "packets_passed": self.passed,
                "packets_injected": inj.sent if inj else 0, "packet_inject_failures": inj.failed if inj else 0,
                "queue_handler_errors": sum(r.errors for r in self.readers)}


async def start_packet_mode(app: App) -> PacketMode | None:
    """The app's one call: packet mode for its ``mode = "packet"`` services, if any."""
    services = [s for s in app.config.services if getattr(s, "mode", "proxy") == "packet"]
    if not services:
        return None
    mode = PacketMode(app, services)
    await mode.start()
    return mode


def _tool(services: Sequence[Any]) -> str:
    tools = {s.packet.rules for s in services}
    return "auto" if len(tools) != 1 else tools.pop()
