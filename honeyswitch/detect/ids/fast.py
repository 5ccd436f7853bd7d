"""One-line "fast" alert formats: Suricata ``fast.log``, Snort 2 and Snort 3 ``alert_fast``.

All three print ``<time> [action] [**] [gid:sid:rev] <msg> [**] [Classification: c]
[Priority: n] {PROTO} src:sport -> dst:dport`` with small differences:

- Suricata: ``MM/DD/YYYY-...`` then two spaces, action ``[Drop]``/``[wDrop]``, always
  ``ip:port`` (ICMP type/code as ports), ``(null)`` classification, decoder events
  ending ``[**] [Raw pkt: ...]`` with no addresses (src-side code: alert-fastlog.c).
- Snort 2: ``MM/DD-...`` (``-y``: ``MM/DD/YY``), action ``[Drop]`` etc. before ``[**]``,
  ports only for unfragmented TCP/UDP, classification omitted when the rule has none.
- Snort 3: as Snort 2 but ``-y`` is year first (``YY/MM/DD``), the msg keeps its
  quotes, and ``[AppID: x]`` may follow the priority.

No format says which side is the client, so ``flow_*`` stays empty: match by the
unordered address pair.  The msg runs to the *last* ``[**]`` so a ``[**]`` inside a
rule's msg cannot shift the fields, and the scan is linear on any input.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import tzinfo

from .alert import (
    MAX_LINE,
    IdsAlert,
    check_length,
    clean_text,
    normalise_ip,
    parse_int,
    raw_excerpt,
    split_hostport,
)
from .stamps import parse_clock

_HEAD = re.compile(
    r"(?P<ts>[0-9/:.\-]{1,40})(?P<actions>(?: +\[[A-Za-z_]{1,32}\])*) +\[\*\*\] +(?:[RF] +)?"
    r"\[(?P<gid>\d{1,10}):(?P<sid>\d{1,10}):(?P<rev>\d{1,10})\] *(?:<(?P<iface>[^>]{0,64})> +)?"
)
_TAIL = re.compile(
    r"(?:\[Classification: (?P<cls>[^\]]{0,256})\] ?)?(?:\[Priority: (?P<prio>\d{1,10})\] ?)?"
    r"(?:\[AppID: (?P<app>[^\]]{0,256})\] ?)?"
    r"(?:\{(?P<proto>[^}]{1,32})\} ?(?:(?P<src>\S{1,80}) -> (?P<dst>\S{1,80}))?)?"
)
_RAW_PKT = " [**] [Raw pkt: "
_PORTED = ("TCP", "UDP")
_NO_CLASS = ("(null)", "")

Clock = Callable[[], float]


class FastLineParser:
    """Parser for one fast-format flavour; use the three subclasses below."""

    default_sensor = "fast"
    year_first = False  # Snort 3 -y prints YY/MM/DD
    ports_always = False  # Suricata prints ip:port even for ICMP (type/code)
    quoted_msg = False  # Snort 3 keeps the rule msg's quotes

    def __init__(
        self,
        sensor: str | None = None,
        *,
        tz: tzinfo | None = None,
        clock: Clock = time.time,
        year_first: bool | None = None,
        max_line: int = MAX_LINE,
    ) -> None:
        """``tz``: the sensor's zone (``None``: local time, as the IDS prints by default);
        ``clock``: "now" for guessing the missing year."""
        self.name = sensor or self.default_sensor
        self._tz = tz
        self._clock = clock
        self._max_line = max_line
        if year_first is not None:
            self.year_first = year_first

    def parse_line(self, line: str) -> IdsAlert | None:
        line = check_length(line, self._max_line)
        if not line.strip():
            return None
        head = _HEAD.match(line)
        if head is None:
            raise ValueError("not a fast alert line")
        msg, tail = _split_msg(line[head.end():])
        fields = _TAIL.fullmatch(tail.strip())
        if fields is None:
            raise ValueError(f"bad alert tail {tail[:80]!r}")
        return self._build(line, head, msg, fields)

    def _build(self, line: str, head: re.Match[str], msg: str, tail: re.Match[str]) -> IdsAlert:
        proto = tail["proto"].upper() if tail["proto"] else None
        src_ip, src_port = self._addr(tail["src"], proto)
        dest_ip, dest_port = self._addr(tail["dst"], proto)
        actions = head["actions"].split()
        cls = tail["cls"]
        return IdsAlert(
            timestamp=parse_clock(head["ts"], self._clock(), self.year_first, self._tz),
            sensor=self.name,
            sid=parse_int(head["sid"], "sid"),
            gid=parse_int(head["gid"], "gid"),
            rev=parse_int(head["rev"], "rev"),
            msg=clean_text(self._msg(msg)),
            classification=None if cls is None or cls in _NO_CLASS else clean_text(cls),
            priority=None if tail["prio"] is None else parse_int(tail["prio"], "priority"),
            severity=None,
            proto=proto,
            src_ip=src_ip,
            src_port=src_port,
            dest_ip=dest_ip,
            dest_port=dest_port,
            action=actions[-1].strip("[]") if actions else None,
            raw=raw_excerpt(line),
        )

    def _msg(self, msg: str) -> str:
        if self.quoted_msg and len(msg) >= 2 and msg[0] == msg[-1] == '"':
            return msg[1:-1]
        return msg

    def _addr(self, text: str | None, proto: str | None) -> tuple[str | None, int | None]:
        if text is None:
            return None, None
        if self.ports_always:
            return split_hostport(text)
        if ":" not in text:  # IPv4 without port: not TCP/UDP, or a fragment
            return normalise_ip(text), None
        if text.count(":") == 1 or text.startswith("["):  # IPv4:port, [v6]:port
            return split_hostport(text)
        # IPv6: Snort prints a port only for TCP/UDP (a v6 fragment stays ambiguous)
        return split_hostport(text, with_port=proto in _PORTED)


def _split_msg(body: str) -> tuple[str, str]:
    """Split ``msg [**] tail`` at the last ``[**]`` (before a Suricata raw packet)."""
    raw = body.find(_RAW_PKT)
    if raw >= 0:
        body = body[:raw]
    end = body.rfind("[**]")
    if end < 0:
        raise ValueError("no closing [**]")
    return body[:end].strip(" "), body[end + 4:]


class SuricataFastParser(FastLineParser):
    """Suricata ``fast.log``."""

    default_sensor = "suricata-fast"
    ports_always = True


class Snort2FastParser(FastLineParser):
    """Snort 2.9 ``alert_fast`` (``-A fast``; file ``alert``)."""

    default_sensor = "snort2-fast"


class Snort3FastParser(FastLineParser):
    """Snort 3 ``alert_fast`` (``alert_fast.txt``); ``year_first=True`` if run with ``-y``."""

    default_sensor = "snort3-fast"
    quoted_msg = True
