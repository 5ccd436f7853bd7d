"""The background writer thread: all file and SQLite writes happen here.

The relay runs on one asyncio loop, and a write to disk or SQLite can stall for
milliseconds (fsync, a checkpoint, another process holding the database lock); done on
the loop that would stall every session.  So the recorders hand the writer small
callables and return at once.  The writer runs them in order, and after each batch runs
its *batch hooks* (commit the SQLite transaction, flush the event file), so many writes
share one commit.

The queue is bounded: when it is full an ordinary job is dropped and counted rather than
make the loop wait (losing an event line is better than freezing every client).  Jobs
submitted with ``critical=True`` (blacklist changes, transcript drains, closing files) are
never dropped; they are few and small.

Woken from an empty queue, the thread first *lingers* (``linger`` seconds, unless a
flush or close is waiting) so that one batch, and so one SQLite commit and one write to
the event log, carries the records of many sessions: a commit costs about as much as a
few dozen rows.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[], Any]
MAX_BATCH = 1024  # jobs between two batch hooks, so a busy queue still commits often
LINGER = 0.05  # seconds the thread waits for more jobs after waking from an empty queue


class _Marker:
    """A flush point: set once every job submitted before it, and the hooks, have run."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class Writer:
    """One thread that runs write jobs in submission order."""

    def __init__(self, maxsize: int = 100_000, name: str = "honeyswitch-writer",
                 linger: float = LINGER) -> None:
        self.maxsize = maxsize
        self.linger = linger
        self.dropped = 0  # ordinary jobs refused because the queue was full
        self.errors = 0  # jobs or hooks that raised
        self._items: deque[Job | _Marker] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._hooks: list[Job] = []
        self._closed = False
        self._urgent = 0  # flush markers queued: no lingering while any waits
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    # ------------------------------------------------------------ loop-side API

    def submit(self, job: Job, *, critical: bool = False) -> bool:
        """Queue ``job``; False if it was dropped (queue full, or writer closed)."""
        with self._cond:
            if self._closed:
                if critical:
                    log.warning("writer closed; critical job not run: %r", job)
                return False
            if not critical and len(self._items) >= self.maxsize:
                self.dropped += 1
                return False
            self._items.append(job)
            if len(self._items) == 1:
                # Only an empty queue can have the thread asleep on it: waking it for
                # every job would hand the GIL back and forth once per event.
                self._cond.notify()
        return True

    def count_dropped(self, n: int = 1) -> None:
        """Count records a producer dropped itself (its own queue was full)."""
        with self._cond:
            self.dropped += n

    def add_batch_hook(self, hook: Job) -> None:
        """Run ``hook`` on the writer thread after every batch of jobs."""
        with self._cond:
            self._hooks.append(hook)

    def remove_batch_hook(self, hook: Job) -> None:
        with self._cond:
            if hook in self._hooks:
                self._hooks.remove(hook)

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def on_writer_thread(self) -> bool:
        return threading.current_thread() is self._worker

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is written (blocking: tests, shutdown,
        the CLI).  Returns False on timeout."""
        if self.on_writer_thread():
            self._run_hooks()
            return True
        marker = _Marker()
        with self._cond:
            if self._closed and not self._worker.is_alive():
                return True
            self._items.append(marker)
            self._urgent += 1
            self._cond.notify()
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Run what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if not self.on_writer_thread():
            self._worker.join(timeout)
            if self._worker.is_alive():
                log.error("writer did not finish within %ss; %d jobs left", timeout, len(self._items))

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            markers = []
            for job in batch:
                if isinstance(job, _Marker):
                    markers.append(job)
                    with self._cond:
                        self._urgent -= 1
                else:
                    self._call(job)
            self._run_hooks()
            for marker in markers:
                marker.done.set()
        self._run_hooks()

    def _take(self) -> list[Job | _Marker] | None:
        """The next batch of jobs (waiting for one), or None once closed and drained."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if self.linger > 0:
                self._linger()
            if not self._items:
                return None
            n = min(len(self._items), MAX_BATCH)
            return [self._items.popleft() for _ in range(n)]

    def _linger(self) -> None:
        """With the lock held: wait a little for more jobs (a flush or close cuts it short)."""
        deadline = time.monotonic() + self.linger
        while not self._closed and not self._urgent and len(self._items) < MAX_BATCH:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(left)

    def _run_hooks(self) -> None:
        with self._cond:
            hooks = list(self._hooks)
        for hook in hooks:
            self._call(hook)

    def _call(self, job: Job) -> None:
        try:
            job()
        except Exception:
            self.errors += 1
            # One line per failure would flood the log when the disk is full; log the
            # first few and then every hundredth.
            if self.errors <= 10 or self.errors % 100 == 0:
                log.exception("write job failed (%d failures so far)", self.errors)
