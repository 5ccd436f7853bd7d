"""The live sessions of this process, by id and by client address."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.types import State
from .runner import LiveSession


class Registry:
    def __init__(self) -> None:
        self._by_id: dict[str, LiveSession] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._by_id.values()))

    def add(self, runner: LiveSession) -> None:
        self._by_id[runner.id] = runner

    def remove(self, runner: LiveSession) -> None:
        self._by_id.pop(runner.id, None)

    def get(self, session_id: str) -> LiveSession | None:
        return self._by_id.get(session_id)

    def by_client(self, ip: str) -> list[LiveSession]:
        return [r for r in self._by_id.values() if r.peer.src_ip == ip]

    def mirrored(self) -> list[LiveSession]:
        return [r for r in self._by_id.values() if r.session.state is State.MIRROR]

    def idle(self, now: float) -> list[LiveSession]:
        """Sessions silent for longer than their service's idle timeout."""
        return [r for r in self._by_id.values() if now - r.last_activity > r.service.idle_timeout]

    def describe(self) -> list[dict[str, Any]]:
        return [describe(r) for r in self._by_id.values()]


def describe(r: LiveSession) -> dict[str, Any]:
    """A live session as the control API and CLI show it."""
    s = r.session
    return {
        "session_id": r.id,
        "service": r.service.name,
        "src_ip": r.peer.src_ip,
        "src_port": r.peer.src_port,
        "dest_ip": r.peer.dest_ip,
        "dest_port": r.peer.dest_port,
        "state": s.state.value,
        "mode": getattr(r, "mode", "proxy"),  # "packet" for a PacketRunner
        "score": s.score,
        "started": r.started,
        "switched_by": s.switched_by,
        "bytes_from_client": s.client_received,
        "bytes_main_to_client": s.main_sent,
        "bytes_from_honeypot": s.hp_received,
    }
