"""The small contract shared by every detector.

An inline detector gives each session a :class:`StreamInspector`; the session core feeds
it every chunk of client and server bytes *before* forwarding them, adds the scores of
the alerts it returns, and calls ``finish`` once when the session ends (a request still
without a reply is scored then).  Inspectors are sans-IO and keep whatever per-stream
state they need (reassembly windows, flowbits, request boundaries).

A session's inspectors run as one :class:`Inspection`: every call reaches each of them,
and one that raises is dropped for the rest of that session and reported (the daemon
records a ``detector_error``), while the others and the session go on.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Alert:
    """Something suspicious, with the score it adds."""

    score: float
    detector: str  # "signature", "anomaly", "suricata", "operator" ...
    reason: str  # human text; may hold attacker bytes, so escape where shown
    details: dict[str, Any] = field(default_factory=dict)


class StreamInspector(Protocol):
    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        """Inspect the next bytes of one direction of the session's stream."""
        ...

    def finish(self) -> Sequence[Alert]:
        """The session ended: alerts for what was still in progress."""
        ...


@dataclass(frozen=True, slots=True)
class FlowInfo:
    """What an inspector factory knows about a new session."""

    service: str
    session_id: str
    src_ip: str
    src_port: int
    dest_ip: str
    dest_port: int


class InlineDetector(Protocol):
    name: str

    def new_stream(self, flow: FlowInfo) -> StreamInspector: ...


ErrorReport = Callable[[str, BaseException], None]  # (detector name, what it raised)


class Inspection:
    """The inspectors of one session as one :class:`StreamInspector`.

    Each call goes to every part in order and their alerts are joined.  A part that
    raises is reported to ``on_error`` and left out from then on: one detector's bug
    never stops another's inspection, nor the session's relaying.
    """

    __slots__ = ("_parts", "_on_error")

    def __init__(self, parts: Sequence[tuple[str, StreamInspector]], on_error: ErrorReport) -> None:
        self._parts = tuple(parts)
        self._on_error = on_error

    @property
    def names(self) -> tuple[str, ...]:
        """The detectors still inspecting."""
        return tuple(name for name, _ in self._parts)

    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        parts = self._parts
        if len(parts) == 1:  # the common case: no list to build
            try:
                return parts[0][1].feed(data, to_server)
            except Exception as e:
                self._failed(parts[0], e)
                return ()
        alerts: list[Alert] = []
        for part in parts:
            try:
                alerts.extend(part[1].feed(data, to_server))
            except Exception as e:
                self._failed(part, e)
        return alerts

    def finish(self) -> Sequence[Alert]:
        alerts: list[Alert] = []
        for part in self._parts:
            try:
                alerts.extend(part[1].finish())
            except Exception as e:
                self._failed(part, e)
        self._parts = ()  # a session finishes once
        return alerts

    def handshake(self, info: Any) -> Sequence[Alert]:
        """The session's TLS handshake (:class:`honeyswitch.tls.facts.Handshake`), for
        the parts that look at one (signature rules on ``tls.sni``, ``ja3.hash`` ...)."""
        alerts: list[Alert] = []
        for part in self._parts:
            inspect = getattr(part[1], "handshake", None)
            if inspect is None:
                continue
            try:
                alerts.extend(inspect(info))
            except Exception as e:
                self._failed(part, e)
        return alerts

    def _failed(self, part: tuple[str, StreamInspector], error: BaseException) -> None:
        self._parts = tuple(p for p in self._parts if p is not part)
        log.error("detector %s failed: %s: %s", part[0], type(error).__name__, error, exc_info=error)
        try:
            self._on_error(part[0], error)
        except Exception:
            log.exception("reporting the failure of detector %s failed", part[0])
