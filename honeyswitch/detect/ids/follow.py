"""Following a log file by name across rotation and truncation, like ``tail -F``.

Plain blocking reads of a regular file, made in small bounded steps; the asyncio
tailer calls :meth:`FileFollower.read` from its loop.  What each poll checks, and why:

- ``fstat`` of the open file: a size below our offset means copytruncate (``: > file``);
  Suricata's ``O_APPEND`` writer then starts again at 0, so we rewind.
- ``stat`` of the path: another inode means rename + reopen (logrotate ``create`` then
  ``kill -HUP``).  The old file stays open and is drained first, then kept for
  ``linger`` seconds more, because the writer keeps appending to it until it gets its
  SIGHUP.  A path that vanished is not a rotation yet: the writer still writes to the
  renamed file, which we keep reading.
- A file that is missing (at start or after rotation) is waited for and then read
  from its beginning: every line in a new file is new.

Not detected: a copytruncate followed by more than our offset's worth of writes before
the next poll (nothing in the file tells), which a short poll interval makes unlikely.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from .lines import LineSplitter

log = logging.getLogger(__name__)
CHUNK = 64 * 1024


@dataclass(slots=True)
class _Open:
    fd: int
    ident: tuple[int, int]  # (st_dev, st_ino)
    offset: int
    splitter: LineSplitter
    last_data: float = 0.0  # clock() of the last bytes read; lingering files retire by it


class FileFollower:
    def __init__(
        self,
        path: str | os.PathLike[str],
        start: str = "end",
        max_line: int = 64 * 1024,
        linger: float = 5.0,
        budget: int = 1 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if start not in ("end", "beginning"):
            raise ValueError(f"start must be 'end' or 'beginning', not {start!r}")
        self.path = os.fspath(path)
        self.start = start
        self.max_line = max_line
        self.linger = linger
        self.budget = budget  # bytes per read() call, so one poll cannot hog the loop
        self.clock = clock
        self.rotations = 0
        self.more = False  # the last read() stopped at its budget
        self._overlong_closed = 0
        self._current: _Open | None = None
        self._old: list[_Open] = []

    @property
    def overlong(self) -> int:
        live = [f.splitter.overlong for f in self._old]
        if self._current is not None:
            live.append(self._current.splitter.overlong)
        return self._overlong_closed + sum(live)

    @property
    def is_open(self) -> bool:
        return self._current is not None

    def open_initial(self) -> None:
        """Open the file if it exists, at its end when ``start == "end"``."""
        self._current = self._open(at_end=self.start == "end")

    def close(self) -> None:
        for f in [*self._old, *([self._current] if self._current else [])]:
            self._close(f)
        self._old.clear()
        self._current = None

    def read(self) -> list[bytes]:
        """Every complete line written since the last call, old files' lines first."""
        budget = [self.budget]
        lines: list[bytes] = []
        for old in list(self._old):
            lines += self._drain(old, budget)
            if self.clock() - old.last_data > self.linger:
                lines += self._retire(old)
        if self._current is None:
            self._current = self._open(at_end=False)
        if self._current is not None:
            self._check_truncated(self._current)
            lines += self._drain(self._current, budget)
            lines += self._check_renamed(budget)
        self.more = budget[0] <= 0
        return lines

    def _open(self, at_end: bool) -> _Open | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            os.close(fd)
            log.warning("%s is not a regular file; waiting for one", self.path)
            return None
        f = _Open(fd, (st.st_dev, st.st_ino), 0, LineSplitter(self.max_line), self.clock())
        if at_end and st.st_size > 0:
            f.offset = st.st_size
            if os.pread(fd, 1, st.st_size - 1) != b"\n":  # landed inside a line
                f.splitter.skip_to_newline()
        return f

    def _drain(self, f: _Open, budget: list[int]) -> list[bytes]:
        lines: list[bytes] = []
        while budget[0] > 0:
            data = os.pread(f.fd, min(CHUNK, budget[0]), f.offset)
            if not data:
                break
            f.offset += len(data)
            f.last_data = self.clock()
            budget[0] -= len(data)
            lines += f.splitter.feed(data)
        return lines

    def _check_truncated(self, f: _Open) -> None:
        if os.fstat(f.fd).st_size < f.offset:
            log.info("%s was truncated; reading it again from the start", self.path)
            f.offset = 0
            f.splitter.reset()
            self.rotations += 1

    def _check_renamed(self, budget: list[int]) -> list[bytes]:
        assert self._current is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return []  # renamed away and not re-created yet: keep reading the old one
        if (st.st_dev, st.st_ino) == self._current.ident:
            return []
        new = self._open(at_end=False)
        if new is None:
            return []
        log.info("%s was replaced (rotation); following the new file", self.path)
        self.rotations += 1
        old, self._current = self._current, new
        lines = self._drain(old, budget)  # what was written before the switch comes first
        old.last_data = self.clock()
        self._old.append(old)
        return lines + self._drain(new, budget)

    def _retire(self, f: _Open) -> list[bytes]:
        self._old.remove(f)
        last = f.splitter.flush()
        self._close(f)
        return [last] if last else []

    def _close(self, f: _Open) -> None:
        self._overlong_closed += f.splitter.overlong
        f.splitter.overlong = 0
        try:
            os.close(f.fd)
        except OSError:
            pass
