"""The asyncio edge of the external-IDS input: follow an alert log, parse each new line,
hand on the alerts.

One :class:`AlertTailer` per log file.  It is a plugin with the shared small lifecycle
(``start()`` / ``stop()``) and fails alone: a bad line is counted and skipped, a
callback that raises is logged and counted, and the daemon goes on.  Alerts go either to
``on_alert`` (plain or async callable) or, without one, to ``async for`` readers.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from ...tasks import spawn
from .alert import MAX_LINE, IdsAlert, LineParser, LineTooLong
from .follow import FileFollower
from .inotify import DirWatch

log = logging.getLogger(__name__)

OnAlert = Callable[[IdsAlert], Awaitable[None] | None]
STOP_TIMEOUT = 5.0  # seconds stop() waits for the task
_STOP = object()


@dataclass(slots=True)
class TailerStats:
    lines: int = 0  # complete non-empty lines handed to the parser
    alerts: int = 0
    malformed: int = 0
    overlong: int = 0
    rotations: int = 0  # renames followed and truncations rewound
    callback_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class AlertTailer:
    """Follows ``path`` and yields an :class:`IdsAlert` for every alert line written to it.

    ``start="end"`` skips what the file already holds when :meth:`start` runs;
    ``"beginning"`` reads it.  A file that appears later (missing at start, or new after
    rotation) is read from its first line.  ``poll_interval`` bounds the latency when
    inotify is off or unavailable; with it (``use_inotify``) a write wakes the tailer at
    once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        parser: LineParser,
        *,
        start: str = "end",
        poll_interval: float = 0.05,
        on_alert: OnAlert | None = None,
        max_line: int = MAX_LINE,
        linger: float = 5.0,
        queue_size: int = 10_000,
        use_inotify: bool = True,
        name: str | None = None,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self.path = os.fspath(path)
        self.parser = parser
        self.poll_interval = poll_interval
        self.on_alert = on_alert
        self.name = name or f"{parser.name}:{self.path}"
        self.stats = TailerStats()
        self._follower = FileFollower(self.path, start, max_line=max_line, linger=linger)
        self._use_inotify = use_inotify
        self._watch: DirWatch | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._parser_overlong = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the file (if it is there) and start following it.  Lines written after
        this returns are never missed."""
        if self._task is not None:
            return
        if self._stopped:  # restarted: drop the end marker left for the old readers
            self._queue = asyncio.Queue(self._queue.maxsize)
            self._stopped = False
        self._follower.open_initial()
        if self._use_inotify:
            self._watch = DirWatch.create(self.path)
        self._task = spawn(self._run(), name=f"ids-tailer:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            _, pending = await asyncio.wait({task}, timeout=STOP_TIMEOUT)
            if pending:  # an on_alert callback that ignores cancellation
                log.error("%s: tailer task did not stop within %ss", self.name, STOP_TIMEOUT)
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        self._follower.close()
        self._stopped = True
        self._put_stop()

    async def __aenter__(self) -> AlertTailer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ output

    def __aiter__(self) -> AsyncIterator[IdsAlert]:
        return self

    async def __anext__(self) -> IdsAlert:
        if self._stopped and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _STOP:
            self._put_stop()  # for any other reader
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ work

    def poll(self) -> list[IdsAlert]:
        """Read what was written since the last poll and parse it (no waiting)."""
        raw_lines = self._follower.read()
        self.stats.rotations = self._follower.rotations
        alerts = [a for a in map(self._parse, raw_lines) if a is not None]
        self.stats.overlong = self._follower.overlong + self._parser_overlong
        return alerts

    def _parse(self, raw: bytes) -> IdsAlert | None:
        # NULs: a copytruncate under a writer without O_APPEND leaves a hole of them
        line = raw.decode("utf-8", "replace").lstrip("\x00").rstrip("\r")
        if not line.strip():
            return None
        self.stats.lines += 1
        try:
            alert = self.parser.parse_line(line)
        except LineTooLong:
            self._parser_overlong += 1
            return None
        except ValueError as exc:
            self.stats.malformed += 1
            level = logging.WARNING if self.stats.malformed == 1 else logging.DEBUG
            log.log(level, "%s: skipped a malformed line: %s", self.name, exc)
            return None
        except Exception:  # a parser bug: this line is lost, the tailer is not
            self.stats.malformed += 1
            log.exception("%s: parser failed on a line", self.name)
            return None
        if alert is not None:
            self.stats.alerts += 1
        return alert

    async def _run(self) -> None:
        while self._task is not None:
            try:
                alerts = self.poll()
            except OSError as exc:  # e.g. EIO on the log's filesystem: try again later
                log.warning("%s: reading %s failed: %s", self.name, self.path, exc)
                alerts = []
            for alert in alerts:
                await self._emit(alert)
            if self._follower.more:
                await asyncio.sleep(0)  # more is waiting; let others run first
            elif self._watch is not None:
                await self._watch.wait(self.poll_interval)
            else:
                await asyncio.sleep(self.poll_interval)

    async def _emit(self, alert: IdsAlert) -> None:
        if self.on_alert is None:
            await self._queue.put(alert)  # a full queue pauses reading, not the daemon
            return
        try:
            result = self.on_alert(alert)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.stats.callback_errors += 1
            log.exception("%s: on_alert failed", self.name)

    def _put_stop(self) -> None:
        try:
            self._queue.put_nowait(_STOP)
        except asyncio.QueueFull:
            pass  # readers are not waiting; they stop when they find it empty
