"""Source scores across hosts: the other nodes' shares, kept locally (sans-IO).

A source's score on one host is the decayed sum of its alerts there,
``S_h(t) = sum_i a_i * 2^(-(t - t_i)/H)``, kept as one pair ``(s_h, t_h)`` with
``S_h(t) = s_h * 2^(-(t - t_h)/H)``.  Because every host halves with the same ``H``,
the cluster's score is the plain sum of the hosts' pairs, each decayed on read:
``S(t) = sum_h s_h * 2^(-(t - t_h)/H)``, which is the one-host formula over the union of
all hosts' alerts, exactly.  The sum of the *other* hosts is again one pair ``(R, t)``,
so the daemon can add it to its own score as a value that decays the same way.
(docs/cluster.md compares this with a shared forward-decay counter.)
"""
from __future__ import annotations

import math
from typing import Any

from .model import IncidentShare, SourceShare

FLOOR = 0.01  # a share decayed below this is gone (as DecayingScores.prune forgets it)


def decayed(score: float, at: float, now: float, half_life: float) -> float:
    """``score`` as of ``at``, halved every ``half_life`` seconds until ``now``.

    A time in the future (another host's clock runs ahead) counts as now: a score never
    grows by waiting."""
    if now <= at:
        return score
    return score * math.pow(0.5, (now - at) / half_life)


def fades_at(score: float, at: float, half_life: float) -> float:
    """When ``score`` as of ``at`` will have decayed under :data:`FLOOR`."""
    if score <= FLOOR:
        return at
    return at + half_life * math.log2(score / FLOOR)


def lives_until(share: SourceShare, half_life: float) -> float:
    """Until when a share still matters: its score has not faded or its incident is open."""
    end = fades_at(share.score, share.at, half_life)
    return max(end, share.incident.open_until) if share.incident is not None else end


class RemoteShares:
    """The other nodes' shares, by source address then node.

    Bounded: past ``max_sources`` the weakest half of the sources is forgotten (a scan
    from many addresses must not grow memory without limit)."""

    def __init__(self, half_life: float, max_sources: int = 100_000) -> None:
        if half_life <= 0:
            raise ValueError("half_life must be > 0")
        self.half_life = half_life
        self.max_sources = max_sources
        self._by_ip: dict[str, dict[str, SourceShare]] = {}

    def put(self, node: str, share: SourceShare, now: float) -> None:
        """``node``'s share of ``share.ip`` is now ``share`` (replacing the one before)."""
        nodes = self._by_ip.setdefault(share.ip, {})
        old = nodes.get(node)
        if old is not None and old.at > share.at:
            return  # an older share arriving late (a replay): the newer one stands
        nodes[node] = share
        if len(self._by_ip) > self.max_sources:
            self._forget_weakest(now)

    def replace_all(self, shares: dict[str, dict[str, SourceShare]]) -> set[str]:
        """Take a fresh snapshot; returns the addresses whose shares changed or went."""
        changed = {ip for ip in self._by_ip.keys() | shares.keys() if self._by_ip.get(ip) != shares.get(ip)}
        self._by_ip = {ip: dict(nodes) for ip, nodes in shares.items() if nodes}
        return changed

    def score(self, ip: str, now: float) -> float:
        """The other nodes' sum for ``ip`` as of ``now``."""
        nodes = self._by_ip.get(ip)
        if not nodes:
            return 0.0
        return sum(decayed(s.score, s.at, now, self.half_life) for s in nodes.values())

    def by_node(self, ip: str, now: float) -> dict[str, float]:
        return {node: decayed(s.score, s.at, now, self.half_life) for node, s in self._by_ip.get(ip, {}).items()}

    def incident(self, ip: str, now: float) -> dict[str, Any] | None:
        """The running totals of the other nodes' open incidents for ``ip``, or None."""
        open_ = [s.incident for s in self._by_ip.get(ip, {}).values()
                 if s.incident is not None and s.incident.open_until > now]
        return None if not open_ else totals(open_)

    def sources(self, now: float, limit: int = 50) -> list[tuple[str, float]]:
        """(address, other nodes' score), highest first."""
        ranked = sorted(((ip, self.score(ip, now)) for ip in self._by_ip), key=lambda kv: kv[1], reverse=True)
        return ranked[:limit]

    def prune(self, now: float) -> list[str]:
        """Forget shares that have faded and whose incident closed; returns the
        addresses left with no share at all."""
        gone = []
        for ip, nodes in list(self._by_ip.items()):
            for node, share in list(nodes.items()):
                if lives_until(share, self.half_life) <= now:
                    del nodes[node]
            if not nodes:
                del self._by_ip[ip]
                gone.append(ip)
        return gone

    def _forget_weakest(self, now: float) -> None:
        ranked = self.sources(now, limit=len(self._by_ip))
        for ip, _ in ranked[len(ranked) // 2:]:
            del self._by_ip[ip]

    def __len__(self) -> int:
        return len(self._by_ip)

    def __contains__(self, ip: object) -> bool:
        return ip in self._by_ip


def totals(incidents: list[IncidentShare]) -> dict[str, Any]:
    """Several nodes' incidents for one source, added up."""
    return {"alerts": sum(i.alerts for i in incidents), "score": sum(i.score for i in incidents),
            "started": min(i.started for i in incidents), "last": max(i.last for i in incidents),
            "nodes": len(incidents)}
