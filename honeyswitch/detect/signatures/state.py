"""Flowbits and thresholds: parsing, and the by-source threshold tracker.

Flowbits live in each session's inspector.  ``threshold`` and ``detection_filter``
count matches per source (or destination, rule, ...) across sessions, so their state
lives in the detector: a bounded table keyed by (gid, sid, tracked value), with an
injectable clock so tests need no sleeping.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable

from .errors import Unsupported, invalid
from .rule import FlowbitOp, Threshold
from .values import parse_int, split_args

_FLOWBIT_CMDS = frozenset({"set", "unset", "toggle", "isset", "isnotset"})
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_TRACKS = frozenset({"by_src", "by_dst", "by_rule", "by_both", "by_flow"})
_TYPES = frozenset({"limit", "threshold", "both"})
MAX_TRACKED = 100_000


def parse_flowbits(value: str | None) -> FlowbitOp | None:
    """``set,name`` / ``isset,a|b`` ...; None for ``noalert``."""
    cmd, _, names = (value or "").partition(",")
    cmd = cmd.strip().lower()
    if cmd == "noalert":
        return None
    if cmd not in _FLOWBIT_CMDS:
        if cmd in ("setx", "reset"):
            raise Unsupported(f"unsupported flowbits command: {cmd}")
        raise invalid("flowbits", f"unknown command {cmd[:20]!r}")
    names = names.strip()
    any_of = "|" in names
    if any_of and "&" in names:
        raise invalid("flowbits", "mixes | and &")
    parts = tuple(n.strip() for n in re.split(r"[|&]", names))
    if not parts or not all(_NAME.match(n) for n in parts) or len(parts) > 16:
        raise invalid("flowbits", f"bad name in {names[:40]!r}")
    if (any_of or len(parts) > 1) and cmd not in ("isset", "isnotset"):
        raise invalid("flowbits", "| and & only for isset/isnotset")
    return FlowbitOp(cmd, parts, any_of)


def parse_threshold(value: str | None, detection_filter: bool) -> Threshold:
    """``type limit, track by_src, count 1, seconds 60`` (no type for detection_filter)."""
    what = "detection_filter" if detection_filter else "threshold"
    fields: dict[str, str] = {}
    allowed = ("track", "count", "seconds") if detection_filter else ("type", "track", "count", "seconds")
    for part in split_args(value):
        key, _, val = part.partition(" ")
        if key in fields or key not in allowed:
            raise invalid(what, f"bad field {key[:20]!r}")
        fields[key] = val.strip()
    kind = "detection_filter" if detection_filter else fields.get("type", "")
    if not detection_filter and kind not in _TYPES:
        raise invalid(what, f"bad type {kind[:20]!r}")
    if fields.get("track") not in _TRACKS:
        raise invalid(what, f"bad track {fields.get('track', '')[:20]!r}")
    count = parse_int(fields.get("count"), what, 1, 1 << 24)
    seconds = parse_int(fields.get("seconds"), what, 0 if kind == "limit" else 1, 1 << 24)
    return Threshold(kind, fields["track"], count, float(seconds))


class ThresholdTracker:
    """Counts matches per (rule, tracked key) in time windows; decides what alerts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = MAX_TRACKED) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._table: dict[tuple[object, ...], list[float]] = {}

    def allow(self, spec: Threshold, key: tuple[object, ...]) -> bool:
        """Record one match; True if it should alert."""
        now = self.clock()
        entry = self._table.get(key)
        if entry is None or (spec.seconds and now - entry[0] >= spec.seconds):
            self._make_room()
            entry = [now, 0.0, 0.0]  # window start, count, alerted-in-window
            self._table[key] = entry
        entry[1] += 1
        return _decide(spec, entry)

    def _make_room(self) -> None:
        if len(self._table) < self.max_entries:
            return
        # drop the oldest quarter (insertion order approximates age)
        for key in list(self._table)[: max(1, self.max_entries // 4)]:
            del self._table[key]

    def __len__(self) -> int:
        return len(self._table)


def _decide(spec: Threshold, entry: list[float]) -> bool:
    count = entry[1]
    if spec.kind == "limit":
        return count <= spec.count
    if spec.kind == "threshold":
        if count >= spec.count:
            entry[1] = 0.0
            return True
        return False
    if spec.kind == "both":
        if count >= spec.count and not entry[2]:
            entry[2] = 1.0
            return True
        return False
    return count > spec.count  # detection_filter
