"""The compiled form of a ruleset: prefilter groups and rule placement.

Rules are split by where they are evaluated:

* stream rules (no HTTP buffer): one group per direction; the prefilter scans new bytes
  of that direction's stream (plus a small overlap, so literals split across chunks are
  found);
* HTTP rules: one group per request level (line, headers, body) holding the literals
  of the rules whose literal lives in a buffer completed at that level; the buffers of
  a level are scanned together, joined, once per request (a literal found in the
  "wrong" buffer or across a join only adds a candidate, which verification drops).

Rules without a usable literal are "unfiltered": candidates on every inspection of their
kind.  Applicability to a service (protocol, ports, direction) is checked afterwards by
:mod:`.profile`, so one compiled engine serves every service.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from . import buffers as B
from .prefilter import Prefilter, make_prefilter
from .rule import Rule


@dataclass(slots=True)
class Group:
    """Rules sharing one prefilter; literal id -> rule ids."""

    prefilter: Prefilter
    rules_of: tuple[tuple[int, ...], ...]
    overlap: int  # bytes of already-scanned stream to rescan (longest literal - 1)

    def scan(self, data: bytes) -> set[int]:
        found: set[int] = set()
        for lit in self.prefilter.scan(data):
            found.update(self.rules_of[lit])
        return found


def build_group(rules: Sequence[Rule], ids: Sequence[int], engine: str) -> Group:
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
    overlap = max((len(k[0]) for k in keys), default=1) - 1
    return Group(make_prefilter(keys, engine), tuple(tuple(m) for m in members), overlap)


class Engine:
    """Prefilter groups over a fixed list of rules (rule id = index in ``rules``)."""

    def __init__(self, rules: Sequence[Rule], prefilter: str = "auto") -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.stream: dict[bool, Group] = {}
        self.stream_unfiltered: dict[bool, tuple[int, ...]] = {}
        self.packet_unfiltered: dict[bool, tuple[int, ...]] = {}
        self.packet_ids = frozenset(i for i, r in enumerate(self.rules) if r.packet)
        self.order_key = [r.order * len(self.rules) + i for i, r in enumerate(self.rules)]
        self.level_of = [r.level for r in self.rules]
        self.http: dict[int, tuple[tuple[str, ...], Group]] = {}
        self.http_unfiltered: dict[int, tuple[int, ...]] = {}
        self._place(prefilter)

    def _place(self, prefilter: str) -> None:
        stream_ids: dict[bool, list[int]] = {True: [], False: []}
        stream_free: dict[bool, list[int]] = {True: [], False: []}
        http_ids: dict[int, list[int]] = {}
        http_bufs: dict[int, set[str]] = {}
        http_free: dict[int, list[int]] = {}
        for rid, rule in enumerate(self.rules):
            if rule.level:
                if rule.literal is not None:
                    level = B.LEVELS[rule.literal.buffer]
                    http_ids.setdefault(level, []).append(rid)
                    http_bufs.setdefault(level, set()).add(rule.literal.buffer)
                else:
                    http_free.setdefault(rule.level, []).append(rid)
                continue
            for direction in (True, False):
                if rule.to_server in (None, direction):
                    target = stream_ids if rule.literal is not None else stream_free
                    target[direction].append(rid)
        for direction in (True, False):
            self.stream[direction] = build_group(self.rules, stream_ids[direction], prefilter)
            free = stream_free[direction]
            self.stream_unfiltered[direction] = tuple(r for r in free if not self.rules[r].packet)
            self.packet_unfiltered[direction] = tuple(r for r in free if self.rules[r].packet)
        for level, ids in http_ids.items():
            self.http[level] = (tuple(sorted(http_bufs[level])),
                                build_group(self.rules, ids, prefilter))
        self.http_unfiltered = {level: tuple(ids) for level, ids in http_free.items()}
