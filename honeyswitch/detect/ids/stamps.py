"""Timestamps of alert logs to epoch seconds.

EVE carries a full ISO 8601 time with offset.  The fast/csv formats print local time
and often no year: Suricata ``MM/DD/YYYY-HH:MM:SS.uuuuuu``, Snort ``MM/DD-...`` (or with
``-y`` Snort 2 ``MM/DD/YY-...`` and Snort 3 ``YY/MM/DD-...``, year first).  A missing
year is the latest one that does not put the alert more than a day or two after now:
alerts are read soon after they are written, so an alert stamped Dec 31 23:59 read on
Jan 1 lands in the old year, one from a sensor whose clock runs a little ahead lands in
the new year, and a Jan 1 alert read in November is last January's.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

FUTURE_SLACK = 2 * 86400.0  # seconds an alert may seem to lie in the future (clock skew)
_CLOCK = re.compile(
    r"(\d{1,4})/(\d{1,2})(?:/(\d{1,4}))?-(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
)


def parse_iso(text: str, tz: tzinfo | None = None) -> float:
    """EVE's ``2024-11-25T16:00:00.008000+0000`` to epoch seconds."""
    if not isinstance(text, str) or len(text) > 40:
        raise ValueError("bad timestamp")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad timestamp {text!r}") from None
    if stamp.tzinfo is None and tz is not None:
        stamp = stamp.replace(tzinfo=tz)
    return _epoch(stamp)


def parse_clock(text: str, now: float, year_first: bool = False, tz: tzinfo | None = None) -> float:
    """A fast.log/csv time to epoch seconds, in ``tz`` (``None``: local time).

    Two numbers before the ``-`` are month/day; three are month/day/year, or
    year/month/day when ``year_first`` (Snort 3 ``-y``).  Two-digit years are 20YY.
    """
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"bad timestamp {text[:40]!r}")
    a, b, c, hour, minute, second, frac = match.groups()
    if c is None:
        year, month, day = None, int(a), int(b)
    elif year_first:
        year, month, day = int(a), int(b), int(c)
    else:
        year, month, day = int(c), int(a), int(b)
    micro = int((frac or "0").ljust(6, "0")[:6])
    clock = (int(hour), int(minute), int(second), micro)
    if year is None:
        return _closest_year(month, day, clock, now, tz)
    if year < 100:
        year += 2000
    return _epoch(_make(year, month, day, clock, tz))


def _closest_year(
    month: int, day: int, clock: tuple[int, int, int, int], now: float, tz: tzinfo | None
) -> float:
    """The latest year that puts the alert no further than FUTURE_SLACK after now."""
    this_year = datetime.fromtimestamp(now, tz).year
    for year in range(this_year + 1, this_year - 4, -1):  # 4 years back: Feb 29
        try:
            stamp = _epoch(_make(year, month, day, clock, tz))
        except ValueError:  # Feb 29 outside a leap year
            continue
        if stamp <= now + FUTURE_SLACK:
            return stamp
    raise ValueError(f"no year has {month:02d}/{day:02d}")


def _make(
    year: int, month: int, day: int, clock: tuple[int, int, int, int], tz: tzinfo | None
) -> datetime:
    hour, minute, second, micro = clock
    if second == 60:  # a leap second; datetime has none
        return _make(year, month, day, (hour, minute, 59, micro), tz) + timedelta(seconds=1)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except (ValueError, OverflowError):
        raise ValueError(f"bad date {year}-{month}-{day} {hour}:{minute}:{second}") from None


def _epoch(stamp: datetime) -> float:
    try:
        return stamp.timestamp()  # naive: local time
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"timestamp out of range: {stamp!r}") from None
