"""Payload matchers: the option objects a rule's buffers are checked with.

Each matcher is a small frozen object built at load time.  They are evaluated in rule
order, per buffer, by :mod:`.match`, which follows Suricata's content-inspection
semantics (see ``detect-engine-content-inspection.c``):

* an absolute ``content`` searches ``[offset, offset+depth)`` of the buffer;
* a relative one (``distance``/``within``) searches from the end of the previous match
  plus ``distance``, up to ``prev + distance + within``;
* ``startswith`` is ``offset 0, depth len``; ``endswith`` requires the match to end the
  buffer; ``nocase`` is ASCII case folding;
* a negated content/pcre fails the rule if it is found in its window;
* ``isdataat``, ``bsize``, ``byte_test`` test without moving; ``byte_jump`` moves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .byteops import ByteJump, ByteTest
from .errors import invalid
from .pcre import PcreSpec
from .values import Comparison, parse_int

MAX_OFFSET = 1 << 20


@dataclass(frozen=True, slots=True)
class Content:
    pattern: bytes  # lower-cased when nocase
    nocase: bool = False
    negated: bool = False
    offset: int = 0
    depth: int | None = None
    distance: int | None = None
    within: int | None = None
    endswith: bool = False
    fast_pattern: bool = False
    fp_slice: tuple[int, int] | None = None  # fast_pattern:offset,length

    @property
    def relative(self) -> bool:
        return self.distance is not None or self.within is not None

    def literal(self) -> bytes:
        """The bytes the prefilter looks for (the ``fast_pattern`` slice, if any)."""
        if self.fp_slice:
            start, length = self.fp_slice
            return self.pattern[start : start + length] or self.pattern
        return self.pattern


@dataclass(frozen=True, slots=True)
class Pcre:
    spec: PcreSpec

    @property
    def relative(self) -> bool:
        return self.spec.relative

    @property
    def negated(self) -> bool:
        return self.spec.negated


@dataclass(frozen=True, slots=True)
class IsDataAt:
    position: int
    relative: bool
    negated: bool


@dataclass(frozen=True, slots=True)
class Bsize:
    cmp: Comparison
    relative: bool = False


Matcher = Content | Pcre | IsDataAt | Bsize | ByteTest | ByteJump


@dataclass(slots=True)
class ContentBuilder:
    """Collects a content and the modifiers that follow it, then freezes it."""

    pattern: bytes
    negated: bool
    nocase: bool = False
    offset: int | None = None
    depth: int | None = None
    distance: int | None = None
    within: int | None = None
    startswith: bool = False
    endswith: bool = False
    fast_pattern: bool = False
    fp_slice: tuple[int, int] | None = None
    seen: set[str] = field(default_factory=set)

    def modify(self, name: str, value: str | None) -> None:
        """Apply one modifier keyword (nocase, depth, distance, ...)."""
        if name in self.seen and name != "rawbytes":
            raise invalid("content modifier", f"{name} given twice")
        self.seen.add(name)
        if name == "nocase":
            self.nocase = True
        elif name in ("offset", "depth", "distance", "within"):
            lo = -MAX_OFFSET if name == "distance" else (0 if name == "offset" else 1)
            setattr(self, name, parse_int(value, name, lo, MAX_OFFSET))
        elif name == "startswith":
            self.startswith = True
        elif name == "endswith":
            self.endswith = True
        elif name == "fast_pattern":
            self._fast_pattern(value)
        # rawbytes: no-op (we inspect raw bytes anyway)

    def _fast_pattern(self, value: str | None) -> None:
        self.fast_pattern = True
        text = (value or "").strip()
        if not text or text == "only":
            return
        parts = text.split(",")
        if len(parts) != 2:
            raise invalid("fast_pattern", text[:40])
        start = parse_int(parts[0], "fast_pattern", 0, MAX_OFFSET)
        length = parse_int(parts[1], "fast_pattern", 1, MAX_OFFSET)
        if start + length > len(self.pattern):
            raise invalid("fast_pattern", "slice beyond the content")
        self.fp_slice = (start, length)

    def build(self) -> Content:
        relative = self.distance is not None or self.within is not None
        absolute = self.offset is not None or self.depth is not None
        if relative and (absolute or self.startswith):
            raise invalid("content modifier", "relative and absolute modifiers on one content")
        if self.startswith and absolute:
            raise invalid("content modifier", "startswith with offset/depth")
        depth = len(self.pattern) if self.startswith else self.depth
        if depth is not None and depth < len(self.pattern):
            raise invalid("content modifier", "depth shorter than the pattern")
        if self.within is not None and self.within < len(self.pattern):
            raise invalid("content modifier", "within shorter than the pattern")
        if self.negated and self.fast_pattern:
            self.fast_pattern = False  # Suricata refuses; we just don't prefilter on it
        pattern = self.pattern.lower() if self.nocase else self.pattern
        return Content(pattern, self.nocase, self.negated, self.offset or 0, depth,
                       self.distance, self.within, self.endswith, self.fast_pattern,
                       self.fp_slice)
