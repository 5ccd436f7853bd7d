"""Timestamps without a year, in local time or a given zone."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from honeyswitch.detect.ids.stamps import parse_clock, parse_iso


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # read a second after midnight on Jan 1: the alert is from last year
        ("12/31-23:59:59.900000", ts(2027, 1, 1, 0, 0, 1), ts(2026, 12, 31, 23, 59, 59, 900000)),
        # the sensor's clock runs ahead of ours across the new year
        ("01/01-00:00:02.000000", ts(2026, 12, 31, 23, 59, 59), ts(2027, 1, 1, 0, 0, 2)),
        # an old Jan 1 alert read in November (start="beginning")
        ("01/01-02:00:00.000004", ts(2026, 11, 25), ts(2026, 1, 1, 2, 0, 0, 4)),
        ("11/25-16:00:00.5", ts(2026, 11, 25, 16, 0, 1), ts(2026, 11, 25, 16, 0, 0, 500000)),
        # Feb 29 goes back to the last leap year
        ("02/29-12:00:00.000000", ts(2027, 3, 1), ts(2024, 2, 29, 12)),
        # explicit years: Suricata 4 digits, Snort 2 -y two digits
        ("11/25/2024-16:00:02.006000", ts(2026, 1, 1), ts(2024, 11, 25, 16, 0, 2, 6000)),
        ("02/01/18-15:33:07.000000", ts(2026, 1, 1), ts(2018, 2, 1, 15, 33, 7)),
    ],
)
def test_parse_clock(text, now, expected):
    assert parse_clock(text, now, tz=UTC) == expected


def test_year_first_and_zone():
    plus2 = timezone(timedelta(hours=2))
    assert parse_clock("26/07/16-09:23:39.1", 0, year_first=True, tz=plus2) == ts(
        2026, 7, 16, 7, 23, 39, 100000)


@pytest.mark.parametrize(
    "text", ["", "x", "11/25", "00/10-10:00:00", "11/31-10:00:00", "11/25-25:00:00",
             "11/25-10:61:00", "11/25/99999-10:00:00", "1/2/3/4-10:00:00"],
)
def test_bad_clock(text):
    with pytest.raises(ValueError):
        parse_clock(text, ts(2026, 6, 1), tz=UTC)


def test_iso():
    assert parse_iso("2024-11-25T16:00:00.008000+0000") == ts(2024, 11, 25, 16, 0, 0, 8000)
    assert parse_iso("2024-11-25T17:00:00+01:00") == ts(2024, 11, 25, 16)
    for bad in ("", "2024-13-01T00:00:00+0000", "x" * 100):
        with pytest.raises(ValueError):
            parse_iso(bad)
