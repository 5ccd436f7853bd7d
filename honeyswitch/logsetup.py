"""Where the daemon's log lines go: stderr, formatted for whoever reads it.

Under systemd, stderr is a stream into the journal (``$JOURNAL_STREAM`` names it).  The
journal stamps every line itself, so lines carry no time of their own there; they start
with a ``<N>`` syslog priority instead, which journald turns into the entry's level
(``journalctl -p warning`` works).  Anywhere else a line starts with its time.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import IO

# Python level -> syslog priority (journald's SyslogLevelPrefix).
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        # One entry per line: a traceback's lines each get the prefix, so none loses its level.
        return "\n".join(f"<{prio}>{line}" for line in super().format(record).splitlines())


def to_journal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default stderr) is the journal stream systemd set up."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return bool(value) and f"{st.st_dev}" == dev and f"{st.st_ino}" == ino


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if to_journal():
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
