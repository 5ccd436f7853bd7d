"""The inline anomaly detector: scores each client request against its service's model.

A request is complete when the server replies (:mod:`.requests`), but by then its bytes
have been forwarded to main.  Inline detection wants to act *before* forwarding, so when a
service has a protocol boundary (``request_end``: ``b"\\r\\n\\r\\n"`` for HTTP heads,
``b"\\n"`` for line protocols such as SMTP, FTP or Redis inline commands) the inspector
also scores the request-in-progress at the last boundary in each client chunk, and an
alert there lets the session switch before the chunk goes to main.

Trade-off: an early score sees only part of the request (an HTTP head without its POST
body; the first of several pipelined lines), so it can miss what comes later, which the
score at completion still catches (after forwarding, but in time to switch the rest of
the session).  It may also be noisier, since the model was trained on whole requests;
leave ``request_end`` unset for protocols whose boundaries are not line ends (RESP
arrays, binary protocols).  Each request raises at most one alert.

Work per chunk is O(chunk): features are kept incrementally (:mod:`.features`), and at
most one early score is computed per chunk, so slow-dripped data costs nothing extra.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from honeyswitch.detect.base import Alert, FlowInfo, StreamInspector

from .model import AnomalyModel, RequestState, Score


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Alert score = min(cap, base * score/threshold): 60 at the threshold, more above it."""

    base: float = 60.0
    cap: float = 100.0
    request_end: bytes | None = None

    def __post_init__(self) -> None:
        if not (0 < self.base <= self.cap):
            raise ValueError("alert policy needs 0 < base <= cap")
        if self.request_end is not None and not 1 <= len(self.request_end) <= 16:
            raise ValueError("request_end must be 1..16 bytes")

    def alert_score(self, score: Score) -> float:
        return min(self.cap, self.base * score.ratio)


class _Quiet:
    """Inspector for a service without a model."""

    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        return []

    def finish(self) -> Sequence[Alert]:
        return []


class AnomalyDetector:
    """``InlineDetector`` holding one model per service name."""

    name = "anomaly"

    def __init__(self, models: Mapping[str, AnomalyModel],
                 policies: Mapping[str, AlertPolicy] | None = None) -> None:
        self._models = dict(models)
        self._policies = dict(policies or {})

    def new_stream(self, flow: FlowInfo) -> StreamInspector:
        model = self._models.get(flow.service)
        if model is None:
            return _Quiet()
        return AnomalyInspector(model, self._policies.get(flow.service, AlertPolicy()))


class AnomalyInspector:
    """Per-session state: the request-in-progress and whether it already alerted."""

    __slots__ = ("_model", "_policy", "_state", "_scored", "_alerted", "_lookbehind")

    def __init__(self, model: AnomalyModel, policy: AlertPolicy) -> None:
        self._model = model
        self._policy = policy
        self._state: RequestState | None = None
        self._scored = -1  # request length at the last score
        self._alerted = False
        self._lookbehind = b""  # tail of the previous chunk, for boundaries split across chunks

    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        if not data:
            return []
        return self._client(data) if to_server else self.finish()

    def finish(self) -> list[Alert]:
        """Close the request-in-progress (server replied, or the stream ended)."""
        state, self._state = self._state, None
        alerts = []
        if state is not None and state.length != self._scored:
            alerts = self._check(state, partial=False)
        self._scored, self._alerted, self._lookbehind = -1, False, b""
        return alerts

    def _client(self, data: bytes) -> list[Alert]:
        if self._state is None:
            self._state = self._model.new_request()
        end = self._boundary(data)
        if end is None:
            self._state.update(data)
            return []
        self._state.update(data[:end])
        alerts = self._check(self._state, partial=True)
        self._state.update(data[end:])
        return alerts

    def _boundary(self, data: bytes) -> int | None:
        """Offset in ``data`` just after the last ``request_end`` it completes, if any."""
        delim = self._policy.request_end
        if delim is None:
            return None
        pos = data.rfind(delim)
        if pos >= 0:
            end: int | None = pos + len(delim)
        else:
            keep = len(delim) - 1
            joined = self._lookbehind + data[:keep]
            pos = joined.rfind(delim)
            end = pos + len(delim) - len(self._lookbehind) if pos >= 0 else None
        self._lookbehind = (self._lookbehind + data[-len(delim):])[-(len(delim) - 1):] if len(delim) > 1 else b""
        return end

    def _check(self, state: RequestState, partial: bool) -> list[Alert]:
        self._scored = state.length
        if self._alerted:
            return []
        score = self._model.score_state(state)
        if not score.anomalous:
            return []
        self._alerted = True
        details = {"distance": round(score.total, 4), "threshold": round(score.threshold, 4),
                   "length": score.length, "partial": partial, "top": score.top,
                   "parts": {k: round(v, 4) for k, v in score.parts.items()}}
        where = "request so far" if partial else "request"
        return [Alert(self._policy.alert_score(score), "anomaly",
                      f"anomalous {where} for {self._model.service or 'service'}: {score.reason()}", details)]
