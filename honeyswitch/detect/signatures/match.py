"""Evaluating a chain of matchers against one buffer, with bounded backtracking.

Positions are *window coordinates*: index 0 is ``buf.data[0]``.  A stream buffer is a
sliding window whose first byte is stream offset ``buf.base``; absolute offsets in rules
(``offset``, ``depth``, ``isdataat`` ...) are stream offsets, so they are shifted by
``base`` (a ``depth:5`` content only matches while the stream's first bytes are still
in the window).  HTTP buffers have ``base == 0``.

``min_end`` makes a match count only if it ends after that position (some of its bytes
are new), which is how the stream inspector avoids alerting twice on the same bytes.
When a later element fails, earlier occurrences are retried (the next occurrence after
the previous one's start), as Suricata does, within a step budget.
"""
from __future__ import annotations

from dataclasses import dataclass

from .byteops import ByteJump, ByteTest, jump_target
from .options import Bsize, Content, IsDataAt, Matcher, Pcre

STEP_BUDGET = 2000  # recursion steps per rule evaluation
NO_POSITION = -(1 << 62)  # "no positive match yet": such a chain ignores min_end


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """Bounds for pcre: how many bytes one search may see, and the hyperscan gate."""

    pcre_window: int = 8 << 10  # with the gate: failing searches never reach re
    pcre_window_ungated: int = 2 << 10  # without it, re alone must stay fast
    gate: bool = True


DEFAULT_OPTIONS = MatchOptions()


class Buffer:
    """The bytes of one buffer being inspected, with a lazily lower-cased copy."""

    __slots__ = ("data", "base", "_lower", "_view")

    def __init__(self, data: bytes, base: int = 0) -> None:
        self.data = data
        self.base = base
        self._lower: bytes | None = None
        self._view: memoryview | None = None

    @property
    def lower(self) -> bytes:
        if self._lower is None:
            self._lower = self.data.lower()
        return self._lower

    @property
    def view(self) -> memoryview:
        if self._view is None:
            self._view = memoryview(self.data)
        return self._view


@dataclass(frozen=True, slots=True)
class Chain:
    """The matchers of one buffer, in rule order."""

    buffer: str
    items: tuple[Matcher, ...]
    next_relative: tuple[bool, ...]  # does item i+1 depend on where item i matched?

    @classmethod
    def of(cls, buffer: str, items: list[Matcher]) -> Chain:
        nxt = tuple(_is_relative(items[i + 1]) if i + 1 < len(items) else False
                    for i in range(len(items)))
        return cls(buffer, tuple(items), nxt)


def _is_relative(item: Matcher) -> bool:
    return bool(getattr(item, "relative", False))


class _Search:
    __slots__ = ("buf", "chain", "min_end", "budget", "late", "opts")

    def __init__(self, buf: Buffer, chain: Chain, min_end: int, opts: MatchOptions) -> None:
        self.buf, self.chain, self.min_end, self.opts = buf, chain, min_end, opts
        self.budget = STEP_BUDGET
        self.late = False  # a full match failed only because it ended too early

    def step(self, i: int, prev: int, end: int) -> bool:
        self.budget -= 1
        if self.budget < 0:
            return False
        items = self.chain.items
        if i == len(items):
            if end > self.min_end or end == NO_POSITION:
                return True
            self.late = True
            return False
        item = items[i]
        if isinstance(item, Content):
            return self._content(i, item, prev, end)
        if isinstance(item, Pcre):
            return self._pcre(i, item, prev, end)
        if isinstance(item, ByteJump):
            start = prev if item.relative else -self.buf.base
            target = jump_target(item, self.buf.data, start + item.extract.offset, self.buf.base)
            return target is not None and self.step(i + 1, target, end)
        return self._test(item, prev) and self.step(i + 1, prev, end)

    def _retry(self, i: int) -> bool:
        return self.budget > 0 and (self.chain.next_relative[i] or self.late)

    def _content(self, i: int, c: Content, prev: int, end: int) -> bool:
        start, stop = _window(c, prev, self.buf)
        hay = self.buf.lower if c.nocase else self.buf.data
        if c.negated:
            return _find(hay, c, start, stop) < 0 and self.step(i + 1, prev, end)
        plen = len(c.pattern)
        pos = _find(hay, c, start, stop)
        while pos >= 0:
            mend = pos + plen
            if self.step(i + 1, mend, max(end, mend)):
                return True
            if not self._retry(i) or c.endswith:
                return False
            pos = _find(hay, c, pos + 1, stop)
        return False

    def _pcre(self, i: int, p: Pcre, prev: int, end: int) -> bool:
        spec, opts = p.spec, self.opts
        start = max(prev, 0) if spec.relative else 0
        gate = spec.gate
        gated = opts.gate and gate.available
        window = opts.pcre_window if gated or not gate.needed else opts.pcre_window_ungated
        view = self.buf.view[start : start + window]
        if gated and not gate.may_match(view):
            m = None
        else:
            m = spec.regex.match(view) if spec.anchored else spec.regex.search(view)
        if spec.negated:
            return m is None and self.step(i + 1, prev, end)
        while m is not None:
            mend = start + m.end()
            if self.step(i + 1, mend, max(end, mend)):
                return True
            if not self._retry(i) or spec.anchored:
                return False
            m = spec.regex.search(view, m.start() + 1)
        return False

    def _test(self, item: Matcher, prev: int) -> bool:
        buf = self.buf
        if isinstance(item, IsDataAt):
            if item.relative:
                ok = prev + item.position <= len(buf.data)
            else:
                ok = item.position - buf.base < len(buf.data)
            return ok != item.negated
        if isinstance(item, Bsize):
            return item.cmp.test(len(buf.data))
        if isinstance(item, ByteTest):
            start = prev if item.relative else -buf.base
            value = item.extract.read(buf.data, start + item.extract.offset)
            return value is not None and item.compare(value)
        return False


def _window(c: Content, prev: int, buf: Buffer) -> tuple[int, int]:
    n = len(buf.data)
    if c.distance is not None or c.within is not None:
        dist = c.distance or 0
        start = prev + dist
        stop = n if c.within is None else min(n, start + c.within)
    else:
        start = c.offset - buf.base
        stop = n if c.depth is None else min(n, start + c.depth)
    if c.endswith:
        start = max(start, n - len(c.pattern))
    return max(start, 0), stop


def _find(hay: bytes, c: Content, start: int, stop: int) -> int:
    if stop <= start or stop - start < len(c.pattern):
        return -1
    if c.endswith:
        return start if stop == len(hay) and hay.endswith(c.pattern, start, stop) else -1
    return hay.find(c.pattern, start, stop)



def window_bound(chain: Chain) -> int | None:
    """The stream offset from which ``chain`` cannot match a sliding window any more.

    Its first content is absolutely placed (``offset`` and ``depth``): once the window's
    base is at or past ``offset + depth`` it holds none of the bytes the content may
    occupy, so :func:`match_chain` fails on its first element.  None: no such bound.
    """
    first = chain.items[0] if chain.items else None
    if type(first) is Content and not first.negated and not first.relative \
            and first.depth is not None:
        return first.offset + first.depth
    return None


def lead_absent(chain: Chain, data: bytes, start: int, stop: int) -> bool:
    """Whether ``chain`` surely fails on the buffer ``data[start:stop]`` (base 0).

    True when its first content is absolutely placed, case-sensitive and not where it
    must be; False when unsure.  This is :func:`match_chain`'s first test without
    copying the slice.
    """
    first = chain.items[0] if chain.items else None
    if type(first) is not Content or first.negated or first.relative or first.nocase:
        return False
    n = stop - start
    lo = first.offset
    hi = n if first.depth is None else min(n, lo + first.depth)
    if first.endswith:
        lo = max(lo, n - len(first.pattern))
    lo = max(lo, 0)
    if hi <= lo or hi - lo < len(first.pattern):
        return True
    if first.endswith:
        return not (hi == n and data.endswith(first.pattern, start + lo, start + hi))
    return data.find(first.pattern, start + lo, start + hi) < 0


def match_chain(buf: Buffer, chain: Chain, min_end: int = -1,
                opts: MatchOptions = DEFAULT_OPTIONS) -> bool:
    """Does ``chain`` match ``buf`` with a match ending after ``min_end``?"""
    first = chain.items[0] if chain.items else None
    if type(first) is Content and not first.negated and not first.relative:
        # fast path: most candidates fail on their first content
        start, stop = _window(first, -buf.base, buf)
        pos = _find(buf.lower if first.nocase else buf.data, first, start, stop)
        if pos < 0:
            return False
        if len(chain.items) == 1 and pos + len(first.pattern) > min_end:
            return True
    return _Search(buf, chain, min_end, opts).step(0, -buf.base, NO_POSITION)
