"""Shared fixtures: real loopback servers as backends, and a running honeyswitch."""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from honeyswitch.testing import playbook, servers
from honeyswitch.testing.servers import TestServer


@pytest.fixture(autouse=True)
def _playbooks_asserted() -> Any:
    """A playbook script that was written but never asserted fails its test."""
    playbook.unchecked()
    yield
    left = playbook.unchecked()
    if left:
        pytest.fail("playbook steps never checked (assert the playbook):\n  " + "\n  ".join(left))


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    """Tests run on uvloop, as the daemon does; HONEYSWITCH_TEST_LOOP=asyncio runs them
    on asyncio's own loop (the fallback when uvloop is missing)."""
    if os.environ.get("HONEYSWITCH_TEST_LOOP", "uvloop") == "asyncio":
        return {"asyncio": asyncio.new_event_loop}
    import uvloop

    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Any]]:
    """``await make_server(handler)`` starts a TestServer; all are closed afterwards."""
    started: list[TestServer] = []

    async def _make(handler: servers.Handler, host: str = "127.0.0.1") -> TestServer:
        s = await TestServer(handler, host).start()
        started.append(s)
        return s

    yield _make
    for s in started:
        await s.close()
