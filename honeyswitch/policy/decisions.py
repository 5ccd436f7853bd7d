"""What the policy decides, for the daemon to carry out.

The :class:`~honeyswitch.policy.hub.Policy` returns a list of these from every event it
takes, as the session core returns commands; :meth:`honeyswitch.app.App.carry_out` runs
them in order and raises on an unknown one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..detect.base import Alert
from ..fleet.model import SourceShare


@dataclass(frozen=True, slots=True)
class Record:
    """Record an event (event log, store, live stream)."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListSource:
    """Blacklist a source address: its new sessions go straight to the honeypot."""

    ip: str
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class SwitchClient:
    """Switch every live session of a source address to the honeypot."""

    ip: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class AlertSession:
    """Hand an alert (an external IDS's) to a live session, whose score may switch it."""

    session_id: str
    alert: Alert


@dataclass(frozen=True, slots=True)
class SaveIncident:
    """Write an incident's current state to the store."""

    incident: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PublishShare:
    """Tell the other hosts this host's own part of a source's score ([cluster])."""

    share: SourceShare


Decision = Record | ListSource | SwitchClient | AlertSession | SaveIncident | PublishShare
