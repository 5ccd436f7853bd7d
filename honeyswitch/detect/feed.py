"""External IDS alerts in: one tailer per ``[[ids]]`` source (the I/O edge).

Each line of the source's alert log is parsed and scored, and handed on with the source's
name; what it means for the sessions and sources it concerns is the policy's decision
(:meth:`honeyswitch.policy.hub.Policy.ids_alert`).  A source that fails (unreadable
file, parser error) is logged and recorded; the daemon goes on without it.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .base import Alert
from .config import IdsSource
from .ids import AlertScorer, AlertTailer, IdsAlert, make_parser
from .ids.scoring import to_alert

log = logging.getLogger(__name__)
OnIdsAlert = Callable[[str, IdsAlert, Alert], None]  # (source name, the IDS's alert, as scored)


class IdsFeed:
    """Follows one IDS alert log."""

    def __init__(self, source: IdsSource, on_alert: OnIdsAlert) -> None:
        self.source = source
        self._on_alert = on_alert
        options: dict[str, Any] = {"fields": source.csv_fields} if source.format.endswith("-csv") else {}
        self.scorer = AlertScorer(source.scores)
        self.tailer = AlertTailer(
            source.path, make_parser(source.format, **options), start=source.start,
            poll_interval=source.poll_interval, on_alert=self._alert, name=f"ids:{source.name}",
        )

    async def start(self) -> None:
        await self.tailer.start()

    async def stop(self) -> None:
        await self.tailer.stop()

    def _alert(self, ids_alert: IdsAlert) -> None:
        self._on_alert(self.source.name, ids_alert, to_alert(ids_alert, self.scorer.score(ids_alert)))

    def stats(self) -> dict[str, Any]:
        return {**self.tailer.stats.as_dict(), "at": time.time()}
