"""The compiled form of a ruleset: prefilter groups and rule placement.

Rules are split by where they are evaluated:

* stream rules (no HTTP buffer): one group per direction; the prefilter scans new bytes
  of that direction's stream (plus a small overlap, so literals split across chunks are
  found);
* HTTP rules: one group per request buffer holding rule literals; each buffer of each
  request is scanned once, when it becomes complete.  (Scanning a level's buffers
  joined in one call was tried: the cross-buffer hits cost more than the calls saved.)

Rules without a usable literal are "unfiltered": candidates on every inspection of their
kind.  Applicability to a service (protocol, ports, direction) is checked afterwards by
:mod:`.profile`, so one compiled engine serves every service.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from . import buffers as B
from .match import window_bound
from .pieces import Layout, place_occurrences, scan_pieces
from .prefilter import Prefilter, make_prefilter
from .rule import Rule

log = logging.getLogger(__name__)

# A chunk of several pieces is scanned once with a callback per literal occurrence, as
# long as there are at most this many (then once per piece, one callback per literal).
OCCURRENCES_BASE = 32
OCCURRENCES_PER_PIECE = 4
# Distinct per-service stream prefilters compiled at most (a transparent service sees
# many destination ports; past this many rule sets, sessions use the full database).
MAX_SUBGROUPS = 32


@dataclass(slots=True)
class Group:
    """Rules sharing one prefilter; literal id -> rule ids."""

    prefilter: Prefilter
    rules_of: tuple[tuple[int, ...], ...]
    overlap: int  # bytes of already-scanned stream to rescan (longest literal - 1)
    # literal id -> ((level, rule ids), ...): HTTP rules by when they are evaluated
    by_level: tuple[tuple[tuple[int, tuple[int, ...]], ...], ...] = ()
    lengths: tuple[int, ...] = ()  # literal id -> its length

    def scan(self, data: bytes) -> set[int]:
        found: set[int] = set()
        for lit in self.prefilter.scan(data):
            found.update(self.rules_of[lit])
        return found

    def place(self, layout: Layout, tail: bytes, data: bytes) -> list[list[int]]:
        """The literals in each piece's region of ``data`` (see :mod:`.pieces`).

        One piece: one scan of ``tail + data``.  More: one scan of the whole chunk that
        reports every occurrence (``data`` in place; the tail joined to the first
        ``overlap`` bytes only, which holds every literal that starts in the tail), or,
        past a few occurrences per piece, one scan per piece.
        """
        if layout.count == 1:
            return [list(self.prefilter.scan(tail + data if tail else data))]
        limit = OCCURRENCES_BASE + OCCURRENCES_PER_PIECE * layout.count
        found: list[tuple[int, int]] = []
        ok = not tail or self.prefilter.occurrences(tail + data[: self.overlap], found,
                                                     -len(tail), limit)
        if ok and self.prefilter.occurrences(data, found, 0, limit):
            return place_occurrences(layout, found, self.lengths)
        return scan_pieces(layout, tail, data, self.prefilter.scan)

    def scan_by_level(self, data: bytes, into: dict[int, set[int]]) -> None:
        """Add the rules whose literal occurs in ``data`` to ``into[level]``."""
        for lit in self.prefilter.scan(data):
            for level, ids in self.by_level[lit]:
                if level in into:
                    into[level].update(ids)
                else:
                    into[level] = set(ids)


def build_group(rules: Sequence[Rule], ids: Sequence[int], engine: str,
                overlap: int | None = None) -> Group:
    """A prefilter over the literals of ``rules[ids]``; ``overlap`` defaults to the
    longest literal's length - 1."""
    literal_ids: dict[tuple[bytes, bool], int] = {}
    members: list[list[int]] = []
    for rid in ids:
        lit = rules[rid].literal
        assert lit is not None
        key = (lit.data, lit.nocase)
        if key not in literal_ids:
            literal_ids[key] = len(members)
            members.append([])
        members[literal_ids[key]].append(rid)
    keys = list(literal_ids)
    if overlap is None:
        overlap = max((len(k[0]) for k in keys), default=1) - 1
    by_level = []
    for m in members:
        levels: dict[int, list[int]] = {}
        for rid in m:
            levels.setdefault(rules[rid].level, []).append(rid)
        by_level.append(tuple((lvl, tuple(ids)) for lvl, ids in levels.items()))
    return Group(make_prefilter(keys, engine), tuple(tuple(m) for m in members), overlap,
                 tuple(by_level), tuple(len(k[0]) for k in keys))


def _window_bound(rule: Rule) -> int | None:
    bounds = [b for c in rule.chains if c.buffer == B.PKT and (b := window_bound(c)) is not None]
    return min(bounds) if bounds else None


class Engine:
    """Prefilter groups over a fixed list of rules (rule id = index in ``rules``)."""

    def __init__(self, rules: Sequence[Rule], prefilter: str = "auto") -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.stream: dict[bool, Group] = {}
        self.stream_unfiltered: dict[bool, tuple[int, ...]] = {}
        self.packet_unfiltered: dict[bool, tuple[int, ...]] = {}
        self.packet_ids = frozenset(i for i, r in enumerate(self.rules) if r.packet)
        self.order_key = [r.order * len(self.rules) + i for i, r in enumerate(self.rules)]
        # rule id -> stream offset from which it cannot match a window (None: never)
        self.window_bound: tuple[int | None, ...] = tuple(_window_bound(r) for r in self.rules)
        self.http: dict[str, Group] = {}
        self.http_unfiltered: dict[int, tuple[int, ...]] = {}
        self._stream_ids: dict[bool, frozenset[int]] = {}
        self._subgroups: dict[tuple[bool, frozenset[int]], Group] = {}
        self._prefilter = prefilter
        self._place(prefilter)

    def _place(self, prefilter: str) -> None:
        stream_ids: dict[bool, list[int]] = {True: [], False: []}
        stream_free: dict[bool, list[int]] = {True: [], False: []}
        http_ids: dict[str, list[int]] = {}
        http_free: dict[int, list[int]] = {}
        for rid, rule in enumerate(self.rules):
            if rule.level:
                if rule.literal is not None:
                    http_ids.setdefault(rule.literal.buffer, []).append(rid)
                else:
                    http_free.setdefault(rule.level, []).append(rid)
                continue
            for direction in (True, False):
                if rule.to_server in (None, direction):
                    target = stream_ids if rule.literal is not None else stream_free
                    target[direction].append(rid)
        for direction in (True, False):
            self.stream[direction] = build_group(self.rules, stream_ids[direction], prefilter)
            self._stream_ids[direction] = frozenset(stream_ids[direction])
            free = stream_free[direction]
            self.stream_unfiltered[direction] = tuple(r for r in free if not self.rules[r].packet)
            self.packet_unfiltered[direction] = tuple(r for r in free if self.rules[r].packet)
        for buf, ids in http_ids.items():
            self.http[buf] = build_group(self.rules, ids, prefilter)
        self.http_unfiltered = {level: tuple(ids) for level, ids in http_free.items()}
        by_level: dict[int, list[str]] = {}
        for buf in self.http:
            by_level.setdefault(B.LEVELS[buf], []).append(buf)
        self._http_by_level = {level: tuple(bufs) for level, bufs in by_level.items()}

    def stream_subgroup(self, direction: bool, applicable: frozenset[int]) -> Group:
        """The stream prefilter of one direction restricted to the ``applicable`` rules.

        A service sees only the rules whose protocol, ports and direction fit it (about
        half of the ET slice on a plain TCP port); a database of their literals alone
        scans faster and reports fewer literals that its rules would drop anyway.  It
        keeps the full group's overlap, so pieces see the same bytes.  Groups are
        compiled on first use and shared by equal rule sets, up to ``MAX_SUBGROUPS``
        (then the full group serves: the same alerts, a slower scan).
        """
        ids = self._stream_ids[direction] & applicable
        key = (direction, ids)
        group = self._subgroups.get(key)
        if group is None:
            full = self.stream[direction]
            if ids == self._stream_ids[direction] or len(self._subgroups) >= MAX_SUBGROUPS:
                return full
            try:
                group = build_group(self.rules, sorted(ids), self._prefilter, full.overlap)
            except Exception as exc:  # a database that will not compile: use the full one
                log.warning("stream prefilter for %d rules failed (%s); using all rules",
                            len(ids), exc)
                group = full
            self._subgroups[key] = group
        return group

    def http_buffers(self, level: int) -> tuple[str, ...]:
        """Buffers completed at ``level`` that some rule has a literal in."""
        return self._http_by_level.get(level, ())
