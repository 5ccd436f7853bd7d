"""Counting what is recorded: events by type and alert scores by detector (for /metrics).

A subscriber of the recorder, so nothing is counted on the relay's hot path: a scrape
reads the tally of each relay process and adds them up.
"""
from __future__ import annotations

from collections import Counter
from typing import Any


class EventTally:
    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.alert_scores: dict[str, float] = {}
        self.detector_errors: Counter[str] = Counter()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event_type"))
        self.events[kind] += 1
        if kind == "alert":
            score = event.get("score")
            if isinstance(score, (int, float)) and not isinstance(score, bool) and score > 0:
                detector = str(event.get("detector"))[:40]
                self.alert_scores[detector] = self.alert_scores.get(detector, 0.0) + float(score)
        elif kind == "detector_error":
            self.detector_errors[str(event.get("detector"))[:40]] += 1
