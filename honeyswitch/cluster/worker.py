"""The worker side: what a worker process gets from the supervisor, and how it answers
the supervisor's requests: each is a control operation by name, answered by this
process's part of its declaration (:mod:`honeyswitch.api.operations`)."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
        self.channel = Channel(f"worker-{setup.index}", handler=self.handle, notify=self._on_notify)
        self._unsubscribe: Any = None

    async def start(self) -> None:
        await self.channel.open(self.setup.channel)

    def stop(self) -> None:
        self._stream(False)
        self.channel.close()

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        return await self.app.answer(op, args)  # ValueError (back to the supervisor) for an unknown op

    def _on_notify(self, message: dict[str, Any]) -> None:
        if "stream" in message:
            self._stream(bool(message["stream"]))
        elif isinstance(event := message.get("ship"), dict) and self.app.fleet is not None:
            self.app.fleet.publish_event(event)  # the supervisor's event, for the cluster's stream

    def _stream(self, on: bool) -> None:
        """Forward every event to the supervisor while someone watches the live stream."""
        if on and self._unsubscribe is None:
            self._unsubscribe = self.app.subscribe(lambda ev: self.channel.notify({"event": ev}))
        elif not on and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
