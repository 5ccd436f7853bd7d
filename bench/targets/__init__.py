"""The configurations a case runs against: direct, HAProxy, and honeyswitch in its
modes.  Each gives the port a client connects to for a kind of backend, the pids whose
CPU time and RSS count as the proxy's, and (for honeyswitch) the events it recorded."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..servers import Pair

NAMES = ("direct", "haproxy", "hs-mirror", "hs-workers", "hs-detect", "hs-honeypot", "hs-eve",
         "tls-haproxy", "tls-hs")


class Skip(Exception):
    """A case or configuration that cannot run here; the message says why."""


class Target:
    """Base: a configuration that is started once and measured many times."""

    name = "?"
    proxy = True  # whether a process sits between client and backend

    def __init__(self, pairs: dict[str, Pair], work: Path) -> None:
        self.pairs = pairs
        self.work = work
        self.note = ""  # why it is unavailable, or what to know about its figures
        self.available = True

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def restart(self) -> None:
        self.stop()
        self.start()

    def port(self, kind: str) -> int:
        raise NotImplementedError

    def pids(self) -> list[int]:
        return []

    def events_mark(self) -> int:
        return 0

    def events_since(self, mark: int) -> dict[str, int]:
        return {}


class Direct(Target):
    """The client talks to main itself: the ceiling of the tools on this machine."""

    name = "direct"
    proxy = False

    def port(self, kind: str) -> int:
        return self.pairs[kind].main.port


def count_events(path: Path, mark: int) -> dict[str, int]:
    """Event types written to ``path`` after byte ``mark``, and honeypot drops by cause."""
    try:
        with open(path, "rb") as fh:
            fh.seek(mark)
            data = fh.read(256 << 20)  # bounded: a run writes far less
    except OSError:
        return {}
    counts: Counter[str] = Counter()
    for line in data.splitlines():
        start = line.find(b'"event_type":"')
        if start < 0:
            continue
        end = line.find(b'"', start + 14)
        counts[line[start + 14:end].decode()] += 1
        if b"fell behind" in line:
            counts["honeypot_fell_behind"] += 1
    return dict(counts)
