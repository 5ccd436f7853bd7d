"""Named, kept tasks.

A task nobody references can be garbage-collected mid-flight ("Task was destroyed but it
is pending!"), and an exception in it is lost.  Every background task goes through
:func:`spawn`, which names it, keeps it until done, and logs a failure.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)
_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _tasks.add(task)
    task.add_done_callback(_done)
    return task


def _done(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)


async def cancel_all(prefix: str = "") -> None:
    """Cancel the kept tasks whose name starts with ``prefix`` and wait for them."""
    doomed = [t for t in _tasks if t.get_name().startswith(prefix) and not t.done()]
    for t in doomed:
        t.cancel()
    if doomed:
        await asyncio.gather(*doomed, return_exceptions=True)
