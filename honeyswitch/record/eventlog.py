"""The JSON-lines event log: one line per event, appended by the writer thread.

This is the file operators tail, ship to a SIEM, or feed to jq; its schema is
``docs/events.md``.  Lines are compact ASCII-only JSON, so attacker bytes quoted in an
event can never break a line or reach a terminal as an escape sequence.  ``reopen()``
(on SIGHUP, after logrotate moved the file) makes the next write create a new file.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import IO, Any

from .escape import dumps
from .writer import Writer

FILE_MODE = 0o640  # events quote attackers and name clients: not world-readable


class EventLog:
    """Appends events to ``path`` as JSON lines, without blocking the caller."""

    def __init__(self, path: str | os.PathLike[str], writer: Writer | None = None) -> None:
        self.path = Path(path)
        self._own_writer = writer is None
        self.writer = writer if writer is not None else Writer(name="honeyswitch-eventlog")
        self._file: IO[bytes] | None = None  # touched on the writer thread only
        self._dirty = False
        self.written = 0
        self.writer.add_batch_hook(self._flush_file)

    def write(self, event: Mapping[str, Any]) -> bool:
        """Queue one event (copied now, serialised on the writer thread).

        Returns False if the writer's queue was full and the event was dropped."""
        return self.writer.submit(partial(self._append, dict(event)))

    def append_now(self, event: dict[str, Any], text: str) -> None:
        """On the writer thread: append an event already serialised as ``text``."""
        self._append(event, text)

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

    def _append(self, event: dict[str, Any], text: str | None = None) -> None:
        line = (text if text is not None else dumps(event)).encode("ascii") + b"\n"
        if self._file is None:
            self._file = self._open()
        self._file.write(line)
        self._dirty = True
        self.written += 1

    def _open(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        return os.fdopen(fd, "ab")

    def _flush_file(self) -> None:
        # Flushed once per batch rather than per line: a tail -f sees events within a
        # batch's time, and a burst of events costs one write(2), not hundreds.
        if self._file is not None and self._dirty:
            self._dirty = False
            self._file.flush()

    def _close_file(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            self._dirty = False
            f.close()
