"""What the tools share: uvloop when installed, and a raised fd limit."""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..procs import raise_nofile

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    raise_nofile()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
