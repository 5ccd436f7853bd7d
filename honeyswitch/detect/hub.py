"""Detection in the daemon: inline detectors per service, IDS feeds, scoring, incidents.

The :class:`DetectionHub` gives each new session its inspector, indexes live (and just
ended) sessions so external IDS alerts find them, and turns every ``alert`` event, from
any detector, into source score, incident and blacklist decisions.  A feed or detector
that fails is recorded as ``detector_error`` and the daemon goes on without it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.types import End
from ..events import build_event, make_event
from ..relay import sockets
from ..scoring.engine import Scoring
from .base import CombinedInspector, FlowInfo, InlineDetector, StreamInspector
from .feed import ENDED_LINGER, IdsFeed
from .ids import SessionIndex
from .setup import build_detectors

if TYPE_CHECKING:
    from ..app import App
    from ..config import ServiceConfig
    from ..relay.backends import Peer
    from ..relay.runner import SessionRunner

log = logging.getLogger(__name__)


class DetectionHub:
    def __init__(self, app: App) -> None:
        self.app = app
        cfg = app.config
        self.detectors: dict[str, list[InlineDetector]] = {s.name: [] for s in cfg.services}
        self.index = SessionIndex()
        self.scoring = Scoring(cfg.detection.scoring, allowed=cfg.blacklist.allowed)
        self.feeds: list[IdsFeed] = []
        # Sessions ended in the last ENDED_LINGER seconds, by id: their event fields (plain
        # values, which the garbage collector skips; a runner's graph has cycles), oldest
        # first, so that a late IDS alert still names its session.  Only with IDS feeds.
        self._ended: dict[str, tuple[float, dict[str, Any]]] = {}
        self._legs: dict[str, list[tuple[tuple[str, int], tuple[str, int]]]] = {}
        self._dirty: dict[str, Any] = {}  # incidents changed since the last tick

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self.detectors = build_detectors(self.app.config)  # ConfigError: refuse to start
        self.app.subscribe(self.on_event)
        for source in self.app.config.detection.ids:
            try:
                feed = IdsFeed(self, source)
                await feed.start()
            except (OSError, ValueError) as e:
                self.error(f"ids:{source.name}", str(e))
                continue
            self.feeds.append(feed)

    async def stop(self) -> None:
        for feed in self.feeds:
            await feed.stop()
        self.feeds.clear()

    def error(self, detector: str, message: str) -> None:
        log.error("%s: %s", detector, message)
        self.app._record(make_event("detector_error", None, detector=detector, error=message[:500]))

    # -------------------------------------------------------------- sessions

    def inspector(self, service: ServiceConfig, peer: Peer) -> StreamInspector | None:
        detectors = self.detectors.get(service.name)
        if not detectors:
            return None
        flow = FlowInfo(service.name, peer.session_id, peer.src_ip, peer.src_port, peer.dest_ip, peer.dest_port)
        parts = [d.new_stream(flow) for d in detectors]
        return parts[0] if len(parts) == 1 else CombinedInspector(parts)

    def source_score_of(self, src_ip: str) -> Callable[[], float] | None:
        """What a session of ``src_ip`` asks when a detector alerts: its source's decayed
        score now (None: source switching is off; 0 for an address on the allowlist, which
        is never blacklisted)."""
        scoring = self.scoring
        if not scoring.config.source_switch:
            return None

        def score() -> float:  # asked only when an alert falls short of the session threshold
            return 0.0 if scoring.allowed(src_ip) else scoring.sources.get(src_ip, time.time())
        return score

    def session_started(self, runner: SessionRunner) -> None:
        if not self.feeds:
            return  # the index serves IDS alerts only; without feeds it is pure cost
        p = runner.peer
        self.index.add(runner.id, (p.src_ip, p.src_port), (p.dest_ip, p.dest_port))

    def backend_opened(self, runner: SessionRunner, end: End, transport: Any) -> None:
        """Index the backend legs too: an IDS watching main's side sees those addresses."""
        if transport is None or not self.feeds:
            return
        legs = self._legs.setdefault(runner.id, [])
        legs.append((sockets.local(transport), sockets.peer(transport)))
        p = runner.peer
        self.index.add(runner.id, (p.src_ip, p.src_port), (p.dest_ip, p.dest_port), legs=legs)

    def session_ended(self, runner: SessionRunner) -> None:
        if self.feeds:
            self._ended[runner.id] = (time.monotonic(), runner.event_fields or {"session_id": runner.id})
            self._legs.pop(runner.id, None)
        inspector = runner.session.inspector
        finish = getattr(inspector, "finish", None)
        if finish is None:
            return
        for alert in finish() or ():
            self.app.emit("alert", runner, {**alert.details, "detector": alert.detector, "score": alert.score,
                                            "session_score": None, "reason": alert.reason})

    def recently_ended(self, session_id: str) -> dict[str, Any] | None:
        """The event fields of a session that ended in the last ENDED_LINGER seconds."""
        entry = self._ended.get(session_id)
        return None if entry is None else entry[1]

    def emit_late_alert(self, session: dict[str, Any], fields: dict[str, Any]) -> None:
        """An alert for a session that has ended: too late to switch; it scores the source."""
        self.app._record(build_event("alert", session, fields))

    def emit_source_alert(self, src_ip: str | None, fields: dict[str, Any]) -> None:
        """An alert that matched no session: it still scores its source.

        With several workers each one tails the feed; only the worker that would see
        ``src_ip``'s connections records it, so it is counted once."""
        if self.app.worker is not None and not self.app.worker.owns_source(src_ip):
            return
        self.app._record(make_event("alert", None, src_ip=src_ip, **fields))

    # -------------------------------------------------------------- scoring

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("event_type") != "alert":
            return
        decision = self.scoring.on_alert(event, time.time())
        if decision is None:
            return
        app = self.app
        if decision.opened and app.store is not None:
            app.store.upsert_incident(decision.incident.as_dict())
        else:
            # Written by tick(), at most once a second: rewriting a growing incident on
            # every alert would make each alert dearer than the last (a flood's lever).
            self._dirty[decision.incident.id] = decision.incident
        for closed in decision.closed:
            self._closed(closed)
        if decision.opened:
            app._record(make_event("incident_open", None, src_ip=decision.src_ip,
                                   incident_id=decision.incident.id, source_score=round(decision.source_score, 3)))
        if decision.blacklist and app.blacklist is not None and not app.blacklist.is_listed(decision.src_ip):
            reason = f"source score {decision.source_score:.0f} >= {self.scoring.config.blacklist_threshold:g}"
            app.blacklist.add(decision.src_ip, by="scoring", reason=reason)
            # Its new sessions go straight to the honeypot; the ones still open follow.
            app.switch_client(decision.src_ip, "blacklist", reason)

    def _closed(self, incident: Any) -> None:
        self._dirty.pop(incident.id, None)
        if self.app.store is not None:
            self.app.store.upsert_incident(incident.as_dict())
        self.app._record(make_event(
            "incident_close", None, src_ip=incident.src_ip, incident_id=incident.id, alerts=incident.alerts,
            score=round(incident.score, 3), services=sorted(incident.services),
            duration=round(incident.last - incident.started, 3)))

    def tick(self) -> None:
        now = time.monotonic()
        while self._ended:
            sid, (ended, _) = next(iter(self._ended.items()))
            if now - ended <= ENDED_LINGER:
                break  # in end order: the rest are younger
            del self._ended[sid]
            self.index.remove(sid)
        for incident in self.scoring.tick(time.time()):
            self._closed(incident)
        dirty, self._dirty = self._dirty, {}
        if self.app.store is not None:
            for incident in dirty.values():
                self.app.store.upsert_incident(incident.as_dict())

    def source_scores(self, limit: int = 50) -> list[dict[str, Any]]:
        now = time.time()
        return [{"src_ip": ip, "score": round(score, 3)} for ip, score in self.scoring.sources.items(now)[:limit]]
