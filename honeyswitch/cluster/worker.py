"""The worker side: what a worker process gets from the supervisor, and how it answers
the supervisor's requests (the control API's questions, asked of every worker)."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..api.control import snapshot
from ..relay.registry import describe
from .channel import Channel

if TYPE_CHECKING:
    from ..app import App


@dataclass
class WorkerSetup:
    """Handed to a worker's :class:`~honeyswitch.app.App` at fork."""

    index: int
    count: int
    shard: str  # "source" | "connection"
    channel: socket.socket
    listeners: dict[str, list[socket.socket]] = field(default_factory=dict)  # per service, per listen address

    def owns_source(self, ip: str | None) -> bool:
        """Whether this worker is the one that sees ``ip``'s connections (source sharding);
        with connection sharding, worker 0 speaks for sources no session matches."""
        if self.count == 1:
            return True
        if self.shard != "source" or ip is None:
            return self.index == 0
        return source_index(ip, self.count) == self.index


def source_index(ip: str, count: int) -> int:
    """The worker the reuseport BPF program sends ``ip`` to (see :mod:`.reuseport`)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return 0
    return (int(addr) & 0xFFFFFFFF) % count


class WorkerEndpoint:
    """Serves the supervisor's requests inside a worker."""

    def __init__(self, app: App, setup: WorkerSetup) -> None:
        self.app = app
        self.setup = setup
        self.channel = Channel(f"worker-{setup.index}", handler=self.handle)
        self._unsubscribe: Any = None

    async def start(self) -> None:
        await self.channel.open(self.setup.channel)

    def stop(self) -> None:
        self._stream(False)
        self.channel.close()

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        app = self.app
        if op == "health":
            return {"sessions": len(app.registry), "counters": dict(app.counters)}
        if op == "sessions":
            return app.registry.describe()
        if op == "session":
            runner = app.registry.get(str(args.get("id")))
            return None if runner is None else describe(runner)
        if op == "switch_session":
            sid = str(args.get("id"))
            if app.registry.get(sid) is None:
                return None
            return app.switch_session(sid, str(args.get("by", "operator")), str(args.get("reason", "")))
        if op == "switch_client":
            return app.switch_client(str(args.get("ip")), str(args.get("by", "operator")), str(args.get("reason", "")))
        if op == "sources":
            return app.detection.source_scores(int(args.get("limit", 50)))
        if op == "ids":
            return {f.source.name: f.stats() for f in app.detection.feeds}
        if op == "metrics":
            return snapshot(app)
        if op == "stream":
            self._stream(bool(args.get("on")))
            return True
        raise ValueError(f"unknown op {op!r}")

    def _stream(self, on: bool) -> None:
        """Forward every event to the supervisor while someone watches the live stream."""
        if on and self._unsubscribe is None:
            self._unsubscribe = self.app.subscribe(lambda ev: self.channel.notify({"event": ev}))
        elif not on and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
