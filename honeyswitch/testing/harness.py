"""Running a real honeyswitch in a test: config from dicts, an app on loopback ports,
clients, and a capture of every event."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..app import App
from ..config import Config, build


def make_config(tmp: Path, services: list[dict[str, Any]], **sections: Any) -> Config:
    """A validated config whose files live under ``tmp``; listeners default to port 0."""
    data: dict[str, Any] = {
        "service": [{"listen": "127.0.0.1:0", **s} for s in services],
        "store": {"path": str(tmp / "honeyswitch.db")},
        "events": {"path": str(tmp / "events.jsonl")},
        "transcripts": {"dir": str(tmp / "transcripts")},
        "control": {"listen": "127.0.0.1:0", "token": "test-token"},
    }
    for key, value in sections.items():
        # tables merge with the defaults above; arrays of tables ([[ids]]) are taken whole
        data[key] = value if isinstance(value, list) else {**data.get(key, {}), **value}
    return build(data, str(tmp / "test.toml"), tmp)


class EventCapture:
    """Every event the app records, in order, with waiting helpers."""

    def __init__(self, app: App) -> None:
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        app.subscribe(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self._changed.set()

    def of_type(self, event_type: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e for e in self.events
            if e["event_type"] == event_type and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, event_type: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        async def _wait() -> dict[str, Any]:
            while True:
                found = self.of_type(event_type, **match)
                if found:
                    return found[0]
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(_wait(), timeout)


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[tuple[App, EventCapture]]:
    app = App(config)
    capture = EventCapture(app)
    await app.start()
    try:
        yield app, capture
    finally:
        await app.stop()


def address(app: App, service: str | None = None) -> tuple[str, int]:
    name = service or app.config.services[0].name
    return app.listening(name)[0]


async def connect(app: App, service: str | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address(app, service)
    return await asyncio.open_connection(host, port, limit=1 << 22)


async def session_of(app: App, writer: asyncio.StreamWriter, timeout: float = 5.0) -> str:
    """The id of the session that ``writer``'s connection started."""
    port = writer.get_extra_info("sockname")[1]

    async def _find() -> str:
        while True:
            for runner in app.registry:
                if runner.peer.src_port == port:
                    return runner.id
            await asyncio.sleep(0.002)
    return await asyncio.wait_for(_find(), timeout)


async def read_exactly(reader: asyncio.StreamReader, n: int, timeout: float = 10.0) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), timeout)
