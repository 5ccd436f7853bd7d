"""What the control API needs from the daemon, whether it is one process or a
supervisor in front of several workers.

:class:`LocalControl` answers from the one :class:`~honeyswitch.app.App` in this process;
:class:`honeyswitch.cluster.supervisor.ClusterControl` asks every worker and merges.
Methods are coroutines so the cluster can wait for its workers.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..relay.registry import describe
from .tally import EventTally, merge_snapshots, snapshot  # noqa: F401  (app, worker, supervisor)

if TYPE_CHECKING:
    from ..app import App
    from ..config import Config
    from ..store.blacklist import Blacklist
    from ..store.db import Store

Listener = Callable[[dict[str, Any]], None]


class Control(Protocol):
    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def blacklist(self) -> Blacklist | None: ...

    async def health(self) -> dict[str, Any]: ...
    async def sessions(self) -> list[dict[str, Any]]: ...
    async def live_session(self, session_id: str) -> dict[str, Any] | None: ...
    async def switch_session(self, session_id: str, by: str, reason: str) -> bool | None: ...
    async def switch_client(self, ip: str, by: str, reason: str) -> list[str]: ...
    async def sources(self, limit: int) -> list[dict[str, Any]]: ...
    async def ids_status(self) -> dict[str, Any]: ...
    async def metrics(self) -> dict[str, Any]: ...
    def subscribe(self, listener: Listener) -> Callable[[], None]: ...


class LocalControl:
    """The control API's view of a single-process daemon."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def config(self) -> Config:
        return self.app.config

    @property
    def store(self) -> Store | None:
        return self.app.store

    @property
    def blacklist(self) -> Blacklist | None:
        return self.app.blacklist

    async def health(self) -> dict[str, Any]:
        return {"sessions": len(self.app.registry), "counters": dict(self.app.counters), "workers": 1}

    async def sessions(self) -> list[dict[str, Any]]:
        return self.app.registry.describe()

    async def live_session(self, session_id: str) -> dict[str, Any] | None:
        runner = self.app.registry.get(session_id)
        return None if runner is None else describe(runner)

    async def switch_session(self, session_id: str, by: str, reason: str) -> bool | None:
        if self.app.registry.get(session_id) is None:
            return None
        return self.app.switch_session(session_id, by, reason)

    async def switch_client(self, ip: str, by: str, reason: str) -> list[str]:
        return self.app.switch_client(ip, by, reason)

    async def sources(self, limit: int) -> list[dict[str, Any]]:
        return self.app.detection.source_scores(limit)

    async def ids_status(self) -> dict[str, Any]:
        return {f.source.name: f.stats() for f in self.app.detection.feeds}

    async def metrics(self) -> dict[str, Any]:
        return snapshot(self.app)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.app.subscribe(listener)
