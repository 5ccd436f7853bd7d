"""The private channel between the supervisor and one worker: JSON lines over a
socketpair, on each side's event loop.

A request is ``{"id": n, "op": name, "args": {...}}``; its answer is ``{"id": n,
"result": ...}`` or ``{"id": n, "error": "..."}``.  A line without an id is a
notification (``{"event": {...}}``: a worker forwarding an event while someone watches
the live stream).  Lines are bounded; a peer that sends a longer one is cut off.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from ..tasks import spawn

log = logging.getLogger(__name__)
MAX_LINE = 64 << 20  # a sessions list of 100k sessions fits
Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]
Notify = Callable[[dict[str, Any]], None]


class ChannelClosed(ConnectionError):
    """The other side went away (its process exited)."""


class Channel:
    """One end of a channel; ``handler`` answers the other end's requests."""

    def __init__(self, name: str, handler: Handler | None = None, notify: Notify | None = None) -> None:
        self.name = name
        self._handler = handler
        self._notify = notify
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self.closed = asyncio.Event()

    async def open(self, sock: socket.socket) -> None:
        self._reader, self._writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_LINE)
        spawn(self._read_loop(), name=f"channel:{self.name}")

    async def call(self, op: str, timeout: float = 10.0, **args: Any) -> Any:
        """Ask the other side; raises ChannelClosed, TimeoutError, or RuntimeError with its error."""
        if self._writer is None or self.closed.is_set():
            raise ChannelClosed(f"{self.name}: channel closed")
        self._next += 1
        rid = self._next
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._send({"id": rid, "op": op, "args": args})
            async with asyncio.timeout(timeout):
                return await fut
        finally:
            self._pending.pop(rid, None)

    def notify(self, message: dict[str, Any]) -> None:
        """Send a line that needs no answer (dropped when the channel is closed)."""
        if self._writer is not None and not self.closed.is_set():
            self._send(message)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._closed()

    # ------------------------------------------------------------- internals

    def _send(self, message: dict[str, Any]) -> None:
        assert self._writer is not None
        self._writer.write(json.dumps(message, default=str, separators=(",", ":")).encode() + b"\n")

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                try:
                    line = await self._reader.readline()
                except ValueError:  # over MAX_LINE
                    log.error("%s: over-long line from the other side; closing", self.name)
                    break
                if not line:
                    break
                try:
                    message = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    log.error("%s: unreadable line from the other side; closing", self.name)
                    break
                if not isinstance(message, dict):
                    continue
                self._dispatch(message)
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()

    def _dispatch(self, message: dict[str, Any]) -> None:
        rid = message.get("id")
        if "op" in message and isinstance(rid, int):
            spawn(self._answer(rid, str(message["op"]), message.get("args") or {}), name=f"channel-op:{self.name}")
        elif isinstance(rid, int):
            fut = self._pending.get(rid)
            if fut is not None and not fut.done():
                if "error" in message:
                    fut.set_exception(RuntimeError(str(message["error"])))
                else:
                    fut.set_result(message.get("result"))
        elif self._notify is not None:
            try:
                self._notify(message)
            except Exception:
                log.exception("%s: notification handler failed", self.name)

    async def _answer(self, rid: int, op: str, args: dict[str, Any]) -> None:
        if self._handler is None:
            self.notify({"id": rid, "error": "no handler"})
            return
        try:
            result = await self._handler(op, args if isinstance(args, dict) else {})
        except Exception as e:  # the error goes back to the caller
            self.notify({"id": rid, "error": f"{type(e).__name__}: {e}"})
            return
        self.notify({"id": rid, "result": result})

    def _closed(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ChannelClosed(f"{self.name}: channel closed"))
