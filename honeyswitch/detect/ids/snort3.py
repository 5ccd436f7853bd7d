"""Snort 3 ``alert_json`` and ``alert_csv``: the same named fields, as one JSON object or
one ``", "``-separated CSV line (source: snort3 ``src/loggers/alert_{json,csv}.cc``).

Default fields are ``timestamp pkt_num proto pkt_gen pkt_len dir src_ap dst_ap rule
action``; operators choose others with ``fields = '...'``.  ``rule`` is ``gid:sid:rev``,
``src_ap``/``dst_ap`` are ``addr:port`` (IPv6 printed fully expanded), ``dir`` is
``C2S``/``S2C``/``UNK`` and gives the client->server view.  ``seconds``, when chosen,
is the packet's epoch time and beats guessing the year of ``timestamp``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import tzinfo
from typing import Any

from .alert import (
    MAX_LINE,
    IdsAlert,
    check_length,
    clean_text,
    flow_view,
    normalise_ip,
    parse_int,
    parse_port,
    raw_excerpt,
    split_hostport,
)
from .snort2_csv import split_csv
from .stamps import parse_clock

DEFAULT_FIELDS = (
    "timestamp", "pkt_num", "proto", "pkt_gen", "pkt_len", "dir", "src_ap", "dst_ap",
    "rule", "action",
)
KNOWN_FIELDS = frozenset((
    "action", "app_id", "class", "b64_data", "client_bytes", "client_pkts", "dir",
    "dst_addr", "dst_ap", "dst_port", "eth_dst", "eth_len", "eth_src", "eth_type",
    "flowstart_time", "geneve_vni", "gid", "icmp_code", "icmp_id", "icmp_seq", "icmp_type",
    "iface", "ip_id", "ip_len", "msg", "mpls", "pkt_gen", "pkt_len", "pkt_num", "priority",
    "proto", "rev", "rule", "seconds", "server_bytes", "server_pkts", "service", "sgt", "sid",
    "src_addr", "src_ap", "src_port", "target", "tcp_ack", "tcp_flags", "tcp_len", "tcp_seq",
    "tcp_win", "timestamp", "tos", "ttl", "udp_len", "vlan",
))
_DIRECTIONS = {"C2S": "to_server", "S2C": "to_client"}
_NO_CLASS = ("", "none")

Clock = Callable[[], float]


class Snort3Record:
    """Turns one record of named Snort 3 fields into an :class:`IdsAlert`."""

    def __init__(self, sensor: str, tz: tzinfo | None, clock: Clock, year_first: bool) -> None:
        self.name = sensor
        self._tz = tz
        self._clock = clock
        self._year_first = year_first

    def build(self, rec: dict[str, Any], line: str) -> IdsAlert:
        gid, sid, rev = _rule(rec)
        src = _endpoint(rec, "src")
        dst = _endpoint(rec, "dst")
        direction = _DIRECTIONS.get(str(rec.get("dir", "")).strip().upper())
        view = flow_view(direction, src, dst)
        cls = _text(rec, "class")
        return IdsAlert(
            timestamp=self._timestamp(rec),
            sensor=self.name,
            sid=sid,
            gid=gid,
            rev=rev,
            msg=clean_text(_unquote(_text(rec, "msg"))),
            classification=None if cls.lower() in _NO_CLASS else clean_text(cls),
            priority=_int(rec, "priority"),
            severity=None,
            proto=clean_text(_text(rec, "proto"), 32).upper() or None,
            src_ip=src[0],
            src_port=src[1],
            dest_ip=dst[0],
            dest_port=dst[1],
            direction=direction,
            flow_src_ip=view[0],
            flow_src_port=view[1],
            flow_dest_ip=view[2],
            flow_dest_port=view[3],
            action=clean_text(_text(rec, "action"), 32) or None,
            raw=raw_excerpt(line),
        )

    def _timestamp(self, rec: dict[str, Any]) -> float:
        stamp = _text(rec, "timestamp")
        seconds = _int(rec, "seconds")
        if seconds is not None:  # exact epoch seconds; the fraction comes from timestamp
            _, dot, frac = stamp.rpartition(".")
            micro = int(frac[:6].ljust(6, "0")) if dot and frac.isdigit() else 0
            return seconds + micro / 1e6
        if stamp:
            return parse_clock(stamp, self._clock(), self._year_first, self._tz)
        return self._clock()


class Snort3JsonParser:
    """Snort 3 ``alert_json`` (``alert_json.txt``), one object per line."""

    def __init__(
        self,
        sensor: str = "snort3-json",
        *,
        tz: tzinfo | None = None,
        clock: Clock = time.time,
        year_first: bool = False,
        max_line: int = MAX_LINE,
    ) -> None:
        self.name = sensor
        self._record = Snort3Record(sensor, tz, clock, year_first)
        self._max_line = max_line

    def parse_line(self, line: str) -> IdsAlert | None:
        line = check_length(line, self._max_line)
        if not line.strip():
            return None
        try:
            rec = json.loads(line)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(rec, dict):
            raise ValueError("not a JSON object")
        return self._record.build(rec, line)


class Snort3CsvParser:
    """Snort 3 ``alert_csv`` (``alert_csv.txt``) with the operator's ``fields`` list."""

    def __init__(
        self,
        fields: str | Iterable[str] = DEFAULT_FIELDS,
        sensor: str = "snort3-csv",
        *,
        tz: tzinfo | None = None,
        clock: Clock = time.time,
        year_first: bool = False,
        max_line: int = MAX_LINE,
    ) -> None:
        self.name = sensor
        self.fields = parse_field_list(fields)
        self._record = Snort3Record(sensor, tz, clock, year_first)
        self._max_line = max_line

    def parse_line(self, line: str) -> IdsAlert | None:
        line = check_length(line, self._max_line)
        if not line.strip():
            return None
        values = [v.strip() for v in split_csv(line, after_comma_space=True)]
        if len(values) != len(self.fields):
            raise ValueError(f"expected {len(self.fields)} CSV fields, got {len(values)}")
        return self._record.build(dict(zip(self.fields, values, strict=True)), line)


def parse_field_list(fields: str | Iterable[str]) -> tuple[str, ...]:
    """Snort 3's space-separated ``fields`` (commas accepted) -> validated names."""
    if isinstance(fields, str):
        fields = fields.replace(",", " ").split()
    names = tuple(f.strip().lower() for f in fields)
    if not names:
        raise ValueError("alert_csv: empty field list")
    for name in names:
        if name not in KNOWN_FIELDS:
            raise ValueError(f"alert_csv: unknown field {name!r}")
    return names


def _text(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {type(value).__name__}")
    return value


def _int(rec: dict[str, Any], key: str) -> int | None:
    value = rec.get(key)
    if value is None or value == "":
        return None
    return parse_int(value, key, 1 << 64)


def _unquote(msg: str) -> str:
    if len(msg) >= 2 and msg[0] == msg[-1] == '"':
        return msg[1:-1]
    return msg


def _rule(rec: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    rule = _text(rec, "rule")
    if rule:
        parts = rule.split(":")
        if len(parts) != 3:
            raise ValueError(f"bad rule {rule[:40]!r}")
        gid, sid, rev = (parse_int(p, "rule") for p in parts)
        return gid, sid, rev
    return _int(rec, "gid"), _int(rec, "sid"), _int(rec, "rev")


def _endpoint(rec: dict[str, Any], side: str) -> tuple[str | None, int | None]:
    """``src_addr``/``src_port`` if chosen, else ``src_ap``."""
    addr = _text(rec, f"{side}_addr")
    port = rec.get(f"{side}_port")
    if addr:
        return normalise_ip(addr), None if port in (None, "") else parse_port(port)
    ap = _text(rec, f"{side}_ap")
    if not ap or ap.startswith(":"):  # not chosen, or a packet without IP
        return None, None
    return split_hostport(ap)
