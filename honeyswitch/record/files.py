"""What a daemon process writes to: its writer thread, the SQLite store and the event log,
opened and closed together (a single process and the supervisor do it alike)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..store.db import Store
from .eventlog import EventLog
from .recorder import Recorder
from .writer import Writer

if TYPE_CHECKING:
    from ..config import Config


@dataclass
class Records:
    writer: Writer
    store: Store
    eventlog: EventLog
    closed: bool = False

    @classmethod
    def open(cls, cfg: Config, recorder: Recorder) -> Records:
        """Create the directories, start the writer thread, and point ``recorder`` at
        the store and the event log."""
        for path in (cfg.store_path.parent, cfg.events_path.parent, cfg.transcripts_dir):
            path.mkdir(parents=True, exist_ok=True)
        # One writer thread does every disk write, in order; the loop never blocks on it.
        writer = Writer(name="honeyswitch-writer")
        store = Store(cfg.store_path, writer=writer)
        eventlog = EventLog(cfg.events_path, writer=writer)
        recorder.eventlog, recorder.store = eventlog, store
        return cls(writer, store, eventlog)

    def close(self, recorder: Recorder) -> None:
        """Write what is queued, close the files and stop the writer thread (once)."""
        if self.closed:
            return
        self.closed = True
        self.eventlog.close()
        self.store.close()
        self.writer.close()
        recorder.eventlog = recorder.store = None
