"""The small contract shared by every detector.

An inline detector gives each session a :class:`StreamInspector`; the session core feeds
it every chunk of client and server bytes *before* forwarding them, and adds the scores of
the alerts it returns.  Inspectors are sans-IO and keep whatever per-stream state they
need (reassembly windows, flowbits, request boundaries).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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


class CombinedInspector:
    """Runs several inspectors on the same stream and joins their alerts."""

    __slots__ = ("_parts",)

    def __init__(self, parts: Sequence[StreamInspector]) -> None:
        self._parts = tuple(parts)

    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        alerts: list[Alert] = []
        for part in self._parts:
            alerts.extend(part.feed(data, to_server))
        return alerts

    def handshake(self, info: Any) -> Sequence[Alert]:
        """The session's TLS handshake (:class:`honeyswitch.tls.facts.Handshake`), for
        the parts that look at one (signature rules on ``tls.sni``, ``ja3.hash`` ...)."""
        alerts: list[Alert] = []
        for part in self._parts:
            if (inspect := getattr(part, "handshake", None)) is not None:
                alerts.extend(inspect(info))
        return alerts
