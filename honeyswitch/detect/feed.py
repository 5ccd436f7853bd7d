"""External IDS alerts into live sessions: one tailer per ``[[ids]]`` source.

Each alert line is parsed, scored, and matched to sessions by addresses and ports in
either direction (and the original destination in transparent mode).  A live session
gets an :class:`~honeyswitch.core.types.AlertRaised`, which may switch it; an alert for
a session that has just ended, or for no session at all, still scores its source.
A source that fails (unreadable file, parser error) is logged and recorded; the daemon
goes on without it.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..core.types import AlertRaised
from .config import IdsSource
from .ids import AlertScorer, AlertTailer, IdsAlert, make_parser
from .ids.scoring import to_alert

if TYPE_CHECKING:
    from .hub import DetectionHub

log = logging.getLogger(__name__)
ENDED_LINGER = 60.0  # seconds an ended session still takes alerts (IDS latency, reordering)


class IdsFeed:
    """Follows one IDS alert log for the app."""

    def __init__(self, hub: DetectionHub, source: IdsSource) -> None:
        self.hub = hub
        self.source = source
        options: dict[str, Any] = {"fields": source.csv_fields} if source.format.endswith("-csv") else {}
        self.scorer = AlertScorer(source.scores)
        self.tailer = AlertTailer(
            source.path, make_parser(source.format, **options), start=source.start,
            poll_interval=source.poll_interval, on_alert=self.on_alert, name=f"ids:{source.name}",
        )
        self.matched = 0
        self.unmatched = 0

    async def start(self) -> None:
        await self.tailer.start()

    async def stop(self) -> None:
        await self.tailer.stop()

    def on_alert(self, ids_alert: IdsAlert) -> None:
        alert = to_alert(ids_alert, self.scorer.score(ids_alert))
        details = {**alert.details, "ids": self.source.name}
        fields = {**details, "detector": self.source.name, "score": alert.score,
                  "session_score": None, "reason": alert.reason}
        hub = self.hub
        handled = False
        for sid in hub.index.match(ids_alert):
            runner = hub.app.registry.get(sid)
            if runner is not None and not runner.finished:
                runner.request(AlertRaised(alert.score, self.source.name, alert.reason, details))
                handled = True
            elif (ended := hub.recently_ended(sid)) is not None:
                hub.emit_late_alert(ended, fields)
                handled = True
        if handled:
            self.matched += 1
            return
        self.unmatched += 1
        hub.emit_source_alert(self._client_ip(ids_alert), fields)

    def _client_ip(self, a: IdsAlert) -> str | None:
        """The client's address; fast.log lines do not say which side the client is, so
        a packet from one of our service ports is a reply, and its destination the client."""
        if a.client is not None:
            return a.client[0]
        ports = {port for svc in self.hub.app.config.services for _, port in svc.listen}
        return a.dest_ip if a.src_port in ports else a.src_ip

    def stats(self) -> dict[str, Any]:
        return {**self.tailer.stats.as_dict(), "matched": self.matched, "unmatched": self.unmatched,
                "at": time.time()}
