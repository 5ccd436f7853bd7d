"""Choosing each rule's prefilter literal.

The multi-pattern prefilter only needs one literal per rule that must be present when
the rule matches: the ``fast_pattern`` content if there is one, else the longest
positive content (Suricata picks similarly).  A rule evaluated per HTTP request takes
its literal from an HTTP buffer; a rule with no usable literal is evaluated on every
inspection of its buffers ("unfiltered").
"""
from __future__ import annotations

from . import buffers as B
from .match import Chain
from .options import Content
from .rule import Literal

MAX_LITERAL = 64  # longer literals are cut: a prefix is still a valid prefilter


def choose_literal(chains: tuple[Chain, ...], level: int) -> Literal | None:
    best: tuple[int, int, Literal] | None = None
    for chain in chains:
        if level and chain.buffer == B.PKT:
            continue
        for item in chain.items:
            if not isinstance(item, Content) or item.negated:
                continue
            data = item.literal()[:MAX_LITERAL]
            rank = (1 if item.fast_pattern else 0, len(data))
            if best is None or rank > best[:2]:
                best = (rank[0], rank[1], Literal(chain.buffer, data, item.nocase))
    return best[2] if best else None
