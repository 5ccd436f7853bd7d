"""What hosts tell each other through Redis: blacklist entries, score shares, switch
requests and their answers, as small frozen values with their wire form.

Everything read back from Redis is checked here (types, lengths, finite numbers) before
the rest of the package sees it: another host may run another version, or be
compromised, and a bad record must cost one skipped entry, never the sync task.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..store.blacklist import normalize_ip

TEXT_MAX = 500  # reason, by: as much as the local blacklist and events keep
NAME_MAX = 128  # node names, session ids, request ids


class BadRecord(ValueError):
    """A record from Redis that does not have the expected shape."""


def _text(value: Any, limit: int = TEXT_MAX) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise BadRecord(f"expected text, not {type(value).__name__}")
    return value[:limit]


def number(value: Any) -> float:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRecord(f"expected a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise BadRecord("expected a finite number")
    return number


def num(value: float) -> str:
    """A float as exact text (repr round-trips), the way Lua's tonumber reads it back."""
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    """One listed address as the cluster knows it.

    ``at`` is when this decision was made: of two decisions about one address the later
    wins (a removal leaves a tombstone with its time, so an older add that arrives late
    cannot bring the address back).  ``expires`` None means until removed.  ``origin``
    is the node that decided; "" in an entry the daemon hands over means "this node".
    """

    ip: str
    reason: str
    by: str
    added: float
    expires: float | None
    at: float
    origin: str = ""

    def fields(self) -> dict[str, str]:
        """The Redis hash (and stream entry) form; expires "0" means never."""
        return {"ip": self.ip, "reason": self.reason[:TEXT_MAX], "by": self.by[:TEXT_MAX],
                "origin": self.origin, "added": num(self.added),
                "expires": "0" if self.expires is None else num(self.expires), "at": num(self.at)}

    @classmethod
    def from_fields(cls, raw: Mapping[Any, Any]) -> BlacklistEntry:
        get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}.get
        try:
            expires = number(get("expires"))
            ip = normalize_ip(_text(get("ip"), 64))
            if ip is None:
                raise BadRecord("not an address")
            return cls(ip=ip, reason=_text(get("reason") or ""), by=_text(get("by") or ""),
                       added=number(get("added")), expires=None if expires == 0 else expires,
                       at=number(get("at")), origin=_text(get("origin") or "", NAME_MAX))
        except KeyError as e:
            raise BadRecord(f"missing {e}") from None

    def outlives(self, other: BlacklistEntry) -> bool:
        """Whether this entry's expiry is later than ``other``'s (None is latest)."""
        if self.expires is None:
            return other.expires is not None
        return other.expires is not None and self.expires > other.expires

    def active(self, now: float) -> bool:
        return self.expires is None or self.expires > now


@dataclass(frozen=True, slots=True)
class IncidentShare:
    """One node's open incident for a source: its running totals."""

    id: str
    started: float
    last: float
    alerts: int
    score: float
    open_until: float  # last + the node's incident gap: after it the incident is closed

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "b": self.started, "l": self.last, "a": self.alerts,
                "sc": self.score, "u": self.open_until}

    @classmethod
    def from_wire(cls, d: Any) -> IncidentShare:
        if not isinstance(d, dict):
            raise BadRecord("incident: expected an object")
        return cls(id=_text(d.get("id", ""), NAME_MAX), started=number(d.get("b")), last=number(d.get("l")),
                   alerts=int(number(d.get("a"))), score=number(d.get("sc")), open_until=number(d.get("u")))


@dataclass(frozen=True, slots=True)
class SourceShare:
    """One node's part of a source's score: its own alerts' decayed sum ``score`` as of
    ``at`` (it halves every half-life from then), and its open incident if any.

    A node only ever publishes its own share, whole (a SET, never an increment), so
    sending it twice is harmless: that is what lets the outbox replay after an outage.
    """

    ip: str
    score: float
    at: float
    incident: IncidentShare | None = None

    def wire(self) -> str:
        d: dict[str, Any] = {"s": self.score, "t": self.at}
        if self.incident is not None:
            d["i"] = self.incident.wire()
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_wire(cls, ip: str, raw: Any) -> SourceShare:
        try:
            d = json.loads(raw)
        except (ValueError, TypeError):
            raise BadRecord("share: not JSON") from None
        if not isinstance(d, dict):
            raise BadRecord("share: expected an object")
        inc = d.get("i")
        return cls(ip=ip, score=number(d.get("s")), at=number(d.get("t")),
                   incident=None if inc is None else IncidentShare.from_wire(inc))


@dataclass(frozen=True, slots=True)
class SwitchTarget:
    """What a switch request names: one session, or every session of a client address."""

    session_id: str | None = None
    client: str | None = None

    def __post_init__(self) -> None:
        if (self.session_id is None) == (self.client is None):
            raise ValueError("a switch names a session_id or a client, not both or neither")


# A switch request's outcome.  "switched": at least one session is on the honeypot now;
# "not_found": the node has no such live session; "no_honeypot": found, but it could not
# be switched (its no_honeypot policy applied); "unreachable": Redis is down or the node
# is not live; "timeout": no answer within request_timeout; "expired": the request
# reached the node after its deadline and was not carried out; "error": the node failed.
SWITCH_STATUSES = ("switched", "not_found", "no_honeypot", "unreachable", "timeout", "expired", "error")


@dataclass(frozen=True, slots=True)
class SwitchResult:
    node: str
    status: str
    sessions: tuple[str, ...] = ()  # the ids switched
    detail: str = ""

    def wire(self) -> str:
        return json.dumps({"node": self.node, "status": self.status, "sessions": list(self.sessions),
                           "detail": self.detail}, separators=(",", ":"))

    @classmethod
    def from_wire(cls, raw: Any) -> SwitchResult:
        try:
            d = json.loads(raw)
        except (ValueError, TypeError):
            raise BadRecord("switch result: not JSON") from None
        if not isinstance(d, dict) or d.get("status") not in SWITCH_STATUSES:
            raise BadRecord("switch result: bad status")
        sessions = d.get("sessions") or []
        if not isinstance(sessions, list):
            raise BadRecord("switch result: sessions must be a list")
        return cls(node=_text(d.get("node", ""), NAME_MAX), status=d["status"],
                   sessions=tuple(_text(s, NAME_MAX) for s in sessions[:10_000]),
                   detail=_text(d.get("detail") or ""))

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "status": self.status, "sessions": list(self.sessions), "detail": self.detail}
