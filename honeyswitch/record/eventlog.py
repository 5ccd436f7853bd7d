"""The JSON-lines event log: one line per event, appended by the writer thread.

This is the file operators tail, ship to a SIEM, or feed to jq; its schema is
``docs/events.md``.  Lines are compact ASCII-only JSON, so attacker bytes quoted in an
event can never break a line or reach a terminal as an escape sequence.  ``reopen()``
(on SIGHUP, after logrotate moved the file) makes the next write create a new file.

Several processes (the workers of one daemon) may append to the same file.  It is opened
with ``O_APPEND`` and each writer batch goes out as whole lines in one ``write(2)``: the
kernel appends that call at the end of the file as one piece, so a line is never torn or
mixed with another process's.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from .escape import dumps
from .writer import Writer

log = logging.getLogger(__name__)
FILE_MODE = 0o640  # events quote attackers and name clients: not world-readable


class EventLog:
    """Appends events to ``path`` as JSON lines, without blocking the caller."""

    def __init__(self, path: str | os.PathLike[str], writer: Writer | None = None) -> None:
        self.path = Path(path)
        self._own_writer = writer is None
        self.writer = writer if writer is not None else Writer(name="honeyswitch-eventlog")
        self._fd: int | None = None  # touched on the writer thread only
        self._lines: list[str] = []  # this batch's lines, each ending in "\n" (writer thread)
        self.written = 0
        self.writer.add_batch_hook(self._flush_file)

    def write(self, event: Mapping[str, Any]) -> bool:
        """Queue one event (copied now, serialised on the writer thread).

        Returns False if the writer's queue was full and the event was dropped."""
        return self.writer.submit(partial(self._append, dict(event)))

    def append_lines(self, texts: Iterable[str]) -> None:
        """On the writer thread: append events already serialised (no newlines)."""
        n = len(self._lines)
        self._lines.extend(t + "\n" for t in texts)
        self.written += len(self._lines) - n

    def reopen(self) -> None:
        """Close the file; the next event creates it anew at ``path`` (logrotate)."""
        self.writer.submit(self._close_file, critical=True)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is in the file (tests, shutdown)."""
        return self.writer.flush(timeout)

    def close(self) -> None:
        """Write what is queued and close the file (and the writer, if it is ours)."""
        self.writer.submit(self._close_file, critical=True)
        self.writer.flush()
        self.writer.remove_batch_hook(self._flush_file)
        if self._own_writer:
            self.writer.close()
        else:
            self._close_file()  # in case the shared writer was already closed

    # ------------------------------------------------------------ writer thread

    def _append(self, event: dict[str, Any]) -> None:
        self._lines.append(dumps(event) + "\n")
        self.written += 1

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)

    def _flush_file(self) -> None:
        # Once per batch rather than per line: a tail -f sees events within a batch's
        # time, and a burst of events costs one write(2), not hundreds.  One write(2) per
        # batch is also what keeps lines whole when other processes append too.
        if not self._lines:
            return
        data = "".join(self._lines).encode("ascii")
        self._lines = []
        if self._fd is None:
            self._fd = self._open()
        view = memoryview(data)
        done = os.write(self._fd, view)
        if done < len(data):
            # Only on a full disk or a file size limit; the rest follows in more calls
            # (and may then interleave with another process's lines).
            log.warning("event log: short write (%d of %d bytes)", done, len(data))
            view = view[done:]
            while view:
                view = view[os.write(self._fd, view):]

    def _close_file(self) -> None:
        try:
            self._flush_file()  # lines queued before the reopen go to the old file
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
