"""What the control API needs from the daemon, whether it is one process or a
supervisor in front of several workers.

:class:`LocalControl` answers from the one :class:`~honeyswitch.app.App` in this process;
:class:`honeyswitch.cluster.supervisor.ClusterControl` asks every worker and merges.
Methods are coroutines so the cluster can wait for its workers.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..relay.registry import describe

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


class EventTally:
    """Counts recorded events by type and alert scores by detector (for /metrics)."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.alert_scores: dict[str, float] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event_type"))
        self.events[kind] += 1
        if kind == "alert":
            score = event.get("score")
            if isinstance(score, (int, float)) and not isinstance(score, bool) and score > 0:
                detector = str(event.get("detector"))[:40]
                self.alert_scores[detector] = self.alert_scores.get(detector, 0.0) + float(score)


def snapshot(app: App) -> dict[str, Any]:
    """This process's live figures for /metrics, in a form several workers' add up."""
    states = Counter(r.session.state.value for r in app.registry)
    return {
        "states": dict(states),
        "events": dict(app.tally.events),
        "alert_scores": dict(app.tally.alert_scores),
        "writer_dropped": getattr(app.writer, "dropped", 0) if app.writer is not None else 0,
        "tls": {k: v for k, v in app.counters.items() if k.startswith("tls:")},  # handshakes by service
    }


def merge_snapshots(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"states": Counter(), "events": Counter(), "alert_scores": Counter(), "tls": Counter(),
                           "writer_dropped": 0}
    for part in parts:
        for key in ("states", "events", "alert_scores", "tls"):
            out[key].update(part.get(key) or {})
        out["writer_dropped"] += int(part.get("writer_dropped") or 0)
    return {k: dict(v) if isinstance(v, Counter) else v for k, v in out.items()}


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
