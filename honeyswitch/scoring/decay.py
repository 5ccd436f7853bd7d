"""Per-source scores that fade: each halves every ``half_life`` seconds."""
from __future__ import annotations

import math


class DecayingScores:
    """Scores by key (a source address), decayed lazily when read or added to.

    Bounded: past ``max_keys`` the weakest half is forgotten, so a scan from many
    addresses cannot grow memory without limit.
    """

    def __init__(self, half_life: float, max_keys: int = 100_000) -> None:
        if half_life <= 0:
            raise ValueError("half_life must be > 0")
        self.half_life = half_life
        self.max_keys = max_keys
        self._scores: dict[str, tuple[float, float]] = {}  # key -> (score, at)

    def _decayed(self, score: float, then: float, now: float) -> float:
        if now <= then:
            return score
        return score * math.pow(0.5, (now - then) / self.half_life)

    def get(self, key: str, now: float) -> float:
        entry = self._scores.get(key)
        return 0.0 if entry is None else self._decayed(entry[0], entry[1], now)

    def add(self, key: str, score: float, now: float) -> float:
        """Add ``score`` at time ``now``; returns the key's decayed total."""
        total = self.get(key, now) + score
        self._scores[key] = (total, now)
        if len(self._scores) > self.max_keys:
            self._forget_weakest(now)
        return total

    def put(self, key: str, score: float, at: float) -> None:
        """Set ``key`` to ``score`` as of ``at``, replacing what was there (0 forgets it):
        how another host's share arrives, whole."""
        if score <= 0:
            self._scores.pop(key, None)
            return
        self._scores[key] = (score, at)
        if len(self._scores) > self.max_keys:
            self._forget_weakest(at)

    def pair(self, key: str) -> tuple[float, float] | None:
        """The stored ``(score, at)`` of ``key``: it decays from ``at`` on."""
        return self._scores.get(key)

    def pairs(self) -> list[tuple[str, float, float]]:
        """Every key's stored ``(key, score, at)``."""
        return [(k, s, t) for k, (s, t) in self._scores.items()]

    def items(self, now: float) -> list[tuple[str, float]]:
        """(key, score) pairs, highest first."""
        out = [(k, self._decayed(s, t, now)) for k, (s, t) in self._scores.items()]
        return sorted(out, key=lambda kv: kv[1], reverse=True)

    def prune(self, now: float, below: float = 0.01) -> int:
        """Forget keys whose score has faded under ``below``; returns how many."""
        gone = [k for k, (s, t) in self._scores.items() if self._decayed(s, t, now) < below]
        for k in gone:
            del self._scores[k]
        return len(gone)

    def _forget_weakest(self, now: float) -> None:
        ranked = self.items(now)
        for key, _ in ranked[len(ranked) // 2 :]:
            del self._scores[key]

    def __len__(self) -> int:
        return len(self._scores)
