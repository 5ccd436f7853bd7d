"""Snort 2.9 ``alert_csv``: ``output alert_csv: [<file> [<format> [<limit>]]]``.

``<format>`` is ``default`` or the operator's comma-separated list of field names; the
parser must be given the same list.  The timestamp keeps ``ts_print``'s trailing space
(``09/03-15:20:34.587699 ,1,...``), the msg is double-quoted with ``"`` and ``\\``
backslash-escaped (``TextLog_Quote``), ports are empty for non-TCP/UDP packets.  CSV has
no classification, priority or direction.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable
from datetime import tzinfo

from .alert import (
    MAX_LINE,
    IdsAlert,
    check_length,
    clean_text,
    normalise_ip,
    parse_int,
    parse_port,
    raw_excerpt,
)
from .stamps import parse_clock

DEFAULT_FIELDS = (
    "timestamp", "sig_generator", "sig_id", "sig_rev", "msg", "proto", "src", "srcport",
    "dst", "dstport", "ethsrc", "ethdst", "ethlen", "tcpflags", "tcpseq", "tcpack",
    "tcplen", "tcpwindow", "ttl", "tos", "id", "dgmlen", "iplen", "icmptype", "icmpcode",
    "icmpid", "icmpseq",
)
KNOWN_FIELDS = frozenset(DEFAULT_FIELDS)


def parse_field_list(fields: str | Iterable[str]) -> tuple[str, ...]:
    """``"default"``, ``"timestamp,msg,src"`` or a sequence -> validated field names."""
    if isinstance(fields, str):
        if fields.strip().lower() == "default":
            return DEFAULT_FIELDS
        fields = fields.replace(",", " ").split()
    names = tuple(f.strip().lower() for f in fields)
    if not names:
        raise ValueError("alert_csv: empty field list")
    for name in names:
        if name not in KNOWN_FIELDS:
            raise ValueError(f"alert_csv: unknown field {name!r}")
    return names


class Snort2CsvParser:
    """Parses Snort 2 CSV alert lines written with ``fields`` (Snort's format option)."""

    def __init__(
        self,
        fields: str | Iterable[str] = "default",
        sensor: str = "snort2-csv",
        *,
        tz: tzinfo | None = None,
        clock: Callable[[], float] = time.time,
        max_line: int = MAX_LINE,
    ) -> None:
        self.name = sensor
        self.fields = parse_field_list(fields)
        self._tz = tz
        self._clock = clock
        self._max_line = max_line

    def parse_line(self, line: str) -> IdsAlert | None:
        line = check_length(line, self._max_line)
        if not line.strip():
            return None
        values = split_csv(line)
        if len(values) != len(self.fields):
            raise ValueError(f"expected {len(self.fields)} CSV fields, got {len(values)}")
        return self._build(dict(zip(self.fields, values, strict=True)), line)

    def _build(self, row: dict[str, str], line: str) -> IdsAlert:
        stamp = row.get("timestamp", "").strip()
        proto = row.get("proto", "").strip().upper()
        return IdsAlert(
            timestamp=parse_clock(stamp, self._clock(), False, self._tz) if stamp else self._clock(),
            sensor=self.name,
            sid=_opt_int(row, "sig_id"),
            gid=_opt_int(row, "sig_generator"),
            rev=_opt_int(row, "sig_rev"),
            msg=clean_text(row.get("msg", "")),
            classification=None,
            priority=None,
            severity=None,
            proto=clean_text(proto, 32) or None,
            src_ip=_opt_ip(row, "src"),
            src_port=_opt_port(row, "srcport"),
            dest_ip=_opt_ip(row, "dst"),
            dest_port=_opt_port(row, "dstport"),
            raw=raw_excerpt(line),
        )


def split_csv(line: str, after_comma_space: bool = False) -> list[str]:
    """One CSV record; quoted fields may hold commas and backslash-escaped quotes.
    ``after_comma_space``: the separator is ``", "`` (Snort 3)."""
    if "\x00" in line:  # the csv module refuses NUL with its own error type
        raise ValueError("NUL in CSV line")
    try:
        reader = csv.reader([line], escapechar="\\", doublequote=False, strict=True,
                            skipinitialspace=after_comma_space)
        return next(reader)
    except (csv.Error, StopIteration) as exc:
        raise ValueError(f"bad CSV: {exc}") from None


def _opt_int(row: dict[str, str], key: str) -> int | None:
    value = row.get(key, "").strip()
    return parse_int(value, key) if value else None


def _opt_port(row: dict[str, str], key: str) -> int | None:
    value = row.get(key, "").strip()
    return parse_port(value) if value else None


def _opt_ip(row: dict[str, str], key: str) -> str | None:
    value = row.get(key, "").strip()
    return normalise_ip(value) if value else None
