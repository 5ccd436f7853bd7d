"""Transcripts: every byte of the sessions that reached the honeypot, both directions.

While a session is only mirrored, its :class:`Transcript` keeps the last
``history_bytes`` of records in a memory ring (most sessions never switch, and most of
those bytes are never wanted).  All rings together stay within ``history_total``: past
it a session keeps only its last ``HISTORY_FLOOR`` bytes, so many clients that each send
a little cannot grow the daemon's memory without bound.  When the session reaches the
honeypot the relay calls :meth:`Transcript.persist`: from then on records go to
``<dir>/<session_id>.jsonl``
through the writer thread: first a header (the session's meta and how much history the
ring had to drop), then the remembered history, then every later record, so the file
shows what led up to the switch.  A file is bounded by ``max_bytes``; past it a
``truncated`` mark is written and the rest only counted.

File format, one JSON object per line::

    {"t": 1795633763.1, "header": "honeyswitch-transcript", "version": 1, "session_id": ...,
     "meta": {...}, "dropped_records": 0, "dropped_bytes": {"client": 0, ...}}
    {"t": 1795633763.2, "s": "client", "d": "<base64>"}
    {"t": 1795633763.3, "mark": "switch", "by": "detector:signature", ...}
    {"t": 1795633790.0, "mark": "end", "truncated": false, "omitted_bytes": 0}

Reading, text rendering and pcap export live in :mod:`.render` and :mod:`.pcap` and are
re-exported here.
"""
from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .escape import b64, dumps
from .pcap import to_pcap, write_pcap
from .render import read_transcript, render_text
from .writer import Writer

__all__ = ["STREAMS", "Transcript", "TranscriptStore", "read_transcript", "render_text", "to_pcap",
           "transcript_file", "write_pcap"]

STREAMS = ("client", "main", "honeypot")
HEADER = "honeyswitch-transcript"
VERSION = 1
# What one record costs beyond its data, in the ring's budget and in the file: keeps a
# client typing one byte per packet from holding a million tiny records in memory.
RECORD_COST = 48
# What a ring may always hold, even when all rings together are at history_total.
HISTORY_FLOOR = 4096
FILE_MODE = 0o640
_STREAM_SET = frozenset(STREAMS)
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")

Record = tuple[float, str | None, Any]  # (t, stream, bytes) or (t, None, mark/header dict)
Meta = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


class TranscriptStore:
    """Makes :class:`Transcript` objects writing into ``directory``."""

    def __init__(self, directory: str | os.PathLike[str], history_bytes: int, max_bytes: int,
                 writer: Writer | None = None, history_total: int = 256 << 20) -> None:
        self.dir = Path(directory)
        self.history_bytes = history_bytes
        self.history_total = history_total
        self.ring_total = 0  # bytes (with RECORD_COST) in every open transcript's ring
        self.max_bytes = max_bytes
        self._own_writer = writer is None
        self.writer = writer if writer is not None else Writer(name="honeyswitch-transcripts")
        # Timestamps are the wall clock at start plus monotonic time since: the wall
        # clock may step (NTP) during a session, records must keep order and spacing.
        self._mono0 = time.monotonic()
        self._wall0 = time.time()

    def now(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0)

    def path_for(self, session_id: str) -> Path:
        """Where ``session_id``'s transcript goes; ValueError for an unsafe id."""
        return transcript_file(self.dir, session_id)

    def open(self, session_id: str, meta: Meta) -> Transcript:
        """A transcript for a new session.  ``meta`` goes into the header; give it
        session_id, service, src_ip, src_port, dest_ip, dest_port, main and honeypot
        (backend URLs), state, and optionally main_port / honeypot_port for pcap.  It may
        be a function returning them, called only if the transcript is persisted (most
        sessions never are)."""
        _check_id(session_id)  # fail now, not at persist()
        return Transcript(self, session_id, meta if callable(meta) else dict(meta))

    def flush(self, timeout: float | None = None) -> bool:
        return self.writer.flush(timeout)

    def close(self) -> None:
        """Write what is queued (and stop the writer if it is ours)."""
        self.writer.flush()
        if self._own_writer:
            self.writer.close()


class Transcript:
    """The records of one session; see the module docstring."""

    def __init__(self, store: TranscriptStore, session_id: str, meta: Meta) -> None:
        self.store = store
        self.session_id = session_id
        self._meta = meta
        self.path: Path | None = None  # set by persist()
        self.closed = False
        self.dropped_records = 0
        self.dropped_bytes = dict.fromkeys(STREAMS, 0)
        self.truncated = False
        self.omitted_bytes = 0  # data past max_bytes, not written
        self._ring: deque[Record] = deque()
        self._ring_size = 0
        self._out: deque[Record] | None = None  # records waiting for the writer
        self._written = 0  # estimated bytes of the file so far
        self._scheduled = False  # a drain job is queued

    @property
    def meta(self) -> dict[str, Any]:
        if callable(self._meta):
            self._meta = dict(self._meta())
        return self._meta  # type: ignore[return-value]

    @property
    def persisted(self) -> bool:
        return self._out is not None

    # ------------------------------------------------------------ the hot path

    def add(self, stream: str, data: bytes) -> None:
        """Record ``data`` seen on ``stream`` ("client", "main" or "honeypot")."""
        if self.closed or not data:
            return
        if stream not in _STREAM_SET:
            raise ValueError(f"unknown transcript stream {stream!r}")
        data = bytes(data)  # the relay may reuse its buffer
        rec = (self.store.now(), stream, data)
        if self._out is None:
            self._remember(rec, len(data) + RECORD_COST)
        else:
            self._send(rec, _file_size(rec))

    def mark(self, note: str, **fields: Any) -> None:
        """Record a point in the session, e.g. ``mark("switch", by=..., reason=...)``."""
        if self.closed:
            return
        rec: Record = (self.store.now(), None, {"mark": note, **fields})
        if self._out is None:
            self._remember(rec, _cost(rec))
        else:
            self._send(rec, _file_size(rec))

    def _remember(self, rec: Record, cost: int) -> None:
        store = self.store
        limit = store.history_bytes
        if store.ring_total + cost > store.history_total:
            limit = min(limit, HISTORY_FLOOR)  # all rings are full: keep a tail only
        if cost > limit:
            tail, cost = self._tail_of(rec, limit)
            if tail is None:
                return
            rec = tail
        ring = self._ring
        while ring and self._ring_size + cost > limit:
            self._drop(ring.popleft())
        ring.append(rec)
        self._ring_size += cost
        store.ring_total += cost

    def _tail_of(self, rec: Record, limit: int) -> tuple[Record | None, int]:
        """A record bigger than the whole ring: keep its last bytes, count the rest."""
        t, stream, data = rec
        keep = limit - RECORD_COST
        if stream is None or keep <= 0:
            self._drop(rec, in_ring=False)
            return None, 0
        self.dropped_bytes[stream] += len(data) - keep
        return (t, stream, data[-keep:]), limit

    def _drop(self, rec: Record, in_ring: bool = True) -> None:
        _, stream, data = rec
        self.dropped_records += 1
        if stream is not None:
            self.dropped_bytes[stream] += len(data)
        if in_ring:
            cost = _cost(rec)
            self._ring_size -= cost
            self.store.ring_total -= cost

    def _send(self, rec: Record, size: int) -> None:
        assert self._out is not None
        if self.truncated:
            if rec[1] is not None:
                self.omitted_bytes += len(rec[2])
            return
        if self._written + size > self.store.max_bytes:
            self.truncated = True
            self._out.append((rec[0], None, {"mark": "truncated", "max_bytes": self.store.max_bytes}))
            if rec[1] is not None:
                self.omitted_bytes += len(rec[2])
        else:
            self._out.append(rec)
            self._written += size
        self._schedule()

    # ------------------------------------------------------------ persisting

    def persist(self) -> Path:
        """Write this transcript to disk from now on, history first; returns its path."""
        if self._out is not None or self.closed:
            return self.path or self.store.path_for(self.session_id)
        self.path = self.store.path_for(self.session_id)
        header = {"header": HEADER, "version": VERSION, "session_id": self.session_id,
                  "meta": self.meta, "history_bytes": self.store.history_bytes,
                  "dropped_records": self.dropped_records, "dropped_bytes": dict(self.dropped_bytes)}
        first: Record = (self.store.now(), None, header)
        self._out = deque([first])
        self._written = _file_size(first)
        self.store.ring_total -= self._ring_size
        history, self._ring, self._ring_size = self._ring, deque(), 0
        for rec in history:
            self._send(rec, _file_size(rec))
        self._schedule()
        return self.path

    def close(self) -> Path | None:
        """Finish the transcript; its path if it was persisted, else None (forgotten)."""
        if self.closed:
            return self.path
        if self._out is not None:
            # The end mark bypasses the budget: a reader must see whether data is missing.
            self._out.append((self.store.now(), None, {"mark": "end", "truncated": self.truncated,
                                                        "omitted_bytes": self.omitted_bytes}))
            self._schedule()
        self.closed = True
        if callable(self._meta):
            self._meta = {}  # a closure over the session: not kept past its end
        self._ring.clear()
        self.store.ring_total -= self._ring_size
        self._ring_size = 0
        return self.path

    def _schedule(self) -> None:
        # At most one drain job per transcript is queued: the loop appends records to
        # _out and the writer drains them all at once.  It is critical (never dropped)
        # because a dropped drain would leave records stranded.
        if not self._scheduled:
            self._scheduled = True
            self.store.writer.submit(self._drain, critical=True)

    def _drain(self) -> None:
        """Writer thread: append every waiting record to the file."""
        self._scheduled = False  # before draining: a record added now gets a new job
        out = self._out
        assert out is not None and self.path is not None
        lines = []
        while out:
            lines.append(_line(out.popleft()))
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened per drain, not held: hundreds of switched sessions must not hold
        # hundreds of descriptors, and a drain usually carries many records.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            view = memoryview("".join(lines).encode("ascii"))
            while view:
                # Not view[os.write(...):]: compiled (mypyc 2.4), a memoryview slice
                # evaluates a call in its bound twice, writing everything twice.
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)


def transcript_file(directory: str | os.PathLike[str], session_id: str) -> Path:
    """Where ``session_id``'s transcript is in ``directory``; ValueError for an id that
    could not name one (readers get ids from people and URLs)."""
    _check_id(session_id)
    return Path(directory) / f"{session_id}.jsonl"


def _check_id(session_id: str) -> None:
    if not _SAFE_ID.fullmatch(session_id):
        raise ValueError(f"session id {session_id!r} cannot name a transcript file")


def _cost(rec: Record) -> int:
    """What ``rec`` costs in the memory ring."""
    if rec[1] is None:
        return len(dumps(rec[2])) + RECORD_COST
    return len(rec[2]) + RECORD_COST


def _file_size(rec: Record) -> int:
    """About how many bytes ``rec`` takes in the file (base64 grows data by 4/3)."""
    if rec[1] is None:
        return len(dumps(rec[2])) + RECORD_COST
    return 4 * ((len(rec[2]) + 2) // 3) + RECORD_COST


def _line(rec: Record) -> str:
    t, stream, data = rec
    if stream is None:
        return dumps({"t": round(t, 6), **data}) + "\n"
    return f'{{"t":{t:.6f},"s":"{stream}","d":"{b64(data)}"}}\n'
