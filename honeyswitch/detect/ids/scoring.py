"""How much an external IDS alert adds to a session's (and its source's) score.

By classtype priority: 1 (high) -> 100, 2 -> 60, 3 -> 30, anything else (Snort's 0,
a missing priority) -> 10.  Operators override per signature (``sid`` or
``gid:sid``), e.g. to silence ET's "Python BaseHTTP ServerBanner" that fires on every
response of a Python service, and per classification (matched case-insensitively).
A signature override beats a classification override, which beats the priority.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..base import Alert
from .alert import IdsAlert

DEFAULT_BY_PRIORITY = MappingProxyType({1: 100.0, 2: 60.0, 3: 30.0})
SidKey = tuple[int | None, int]  # (gid or None for any, sid)


def _frozen(items: Mapping[Any, float]) -> Mapping[Any, float]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True, slots=True)
class ScoreConfig:
    by_priority: Mapping[int, float] = field(default_factory=lambda: DEFAULT_BY_PRIORITY)
    default: float = 10.0
    by_sid: Mapping[SidKey, float] = field(default_factory=lambda: _frozen({}))
    by_classification: Mapping[str, float] = field(default_factory=lambda: _frozen({}))

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], where: str = "ids.scores") -> ScoreConfig:
        """From a config table ``{priority = {1 = 100}, default = 10, sid = {"2034635" =
        0, "1:2008538" = 90}, classification = {"Misc activity" = 5}}``; a problem is a
        one-line ``ValueError`` naming the key."""
        unknown = set(table) - {"priority", "default", "sid", "classification"}
        if unknown:
            raise ValueError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        priority = {**DEFAULT_BY_PRIORITY}
        for key, value in _table(table, "priority", where).items():
            priority[_int_key(key, f"{where}.priority")] = _score(value, f"{where}.priority.{key}")
        sids = {_sid_key(k, f"{where}.sid"): _score(v, f"{where}.sid.{k}")
                for k, v in _table(table, "sid", where).items()}
        classes = {str(k).casefold(): _score(v, f"{where}.classification.{k}")
                   for k, v in _table(table, "classification", where).items()}
        default = _score(table.get("default", 10.0), f"{where}.default")
        return cls(_frozen(priority), default, _frozen(sids), _frozen(classes))


class AlertScorer:
    """Maps an :class:`IdsAlert` to a score."""

    def __init__(self, config: ScoreConfig | None = None) -> None:
        self.config = config or ScoreConfig()
        # classification keys are compared casefolded, whoever built the config
        self._classes = {k.casefold(): v for k, v in self.config.by_classification.items()}

    def score(self, alert: IdsAlert) -> float:
        cfg = self.config
        if alert.sid is not None:
            for key in ((alert.gid, alert.sid), (None, alert.sid)):
                if key in cfg.by_sid:
                    return cfg.by_sid[key]
        if alert.classification is not None:
            value = self._classes.get(alert.classification.casefold())
            if value is not None:
                return value
        if alert.priority is not None and alert.priority in cfg.by_priority:
            return cfg.by_priority[alert.priority]
        return cfg.default

    __call__ = score

    def to_alert(self, alert: IdsAlert) -> Alert:
        """The detector-neutral :class:`~honeyswitch.detect.base.Alert` for scoring."""
        return to_alert(alert, self.score(alert))


def to_alert(alert: IdsAlert, score: float) -> Alert:
    rule = f"{alert.gid if alert.gid is not None else '-'}:{alert.sid}:{alert.rev}"
    details = {
        "gid": alert.gid, "sid": alert.sid, "rev": alert.rev,
        "classification": alert.classification, "priority": alert.priority,
        "severity": alert.severity, "proto": alert.proto,
        "src": _ap(alert.src_ip, alert.src_port), "dest": _ap(alert.dest_ip, alert.dest_port),
        "client": alert.client, "server": alert.server, "direction": alert.direction,
        "community_id": alert.community_id, "ids_timestamp": alert.timestamp,
    }
    return Alert(score, alert.sensor, f"[{rule}] {alert.msg}", details)


def _ap(ip: str | None, port: int | None) -> str | None:
    if ip is None:
        return None
    return ip if port is None else f"{ip}:{port}"


def _table(table: Mapping[str, Any], key: str, where: str) -> Mapping[Any, Any]:
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}.{key}: must be a table")
    return value


def _score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{where}: must be a number >= 0, not {value!r}")
    return float(value)


def _int_key(key: Any, where: str) -> int:
    text = str(key).strip()
    if not text.isdigit():
        raise ValueError(f"{where}: {key!r} is not a number")
    return int(text)


def _sid_key(key: Any, where: str) -> SidKey:
    gid, sep, sid = str(key).strip().rpartition(":")
    if sep:
        return (_int_key(gid, where), _int_key(sid, where))
    return (None, _int_key(sid, where))
