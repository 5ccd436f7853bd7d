"""Shared fixtures: real loopback servers as backends, and a running honeyswitch."""
from __future__ import annotations

import os
from typing import Any, AsyncIterator, Callable

import pytest

from honeyswitch.testing import servers
from honeyswitch.testing.servers import TestServer

# uvloop is what the daemon runs on; the asyncio default is kept covered by test_loops.py.
if os.environ.get("HONEYSWITCH_TEST_LOOP", "uvloop") == "uvloop":
    import uvloop

    @pytest.fixture(scope="session")
    def event_loop_policy() -> Any:
        return uvloop.EventLoopPolicy()


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
