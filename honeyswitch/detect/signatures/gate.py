"""A linear-time "can this pcre match here at all?" check, with hyperscan.

Python's ``re`` backtracks: ``/.+?x/s`` on 32 KiB without an ``x`` takes seconds, and
traffic is attacker-controlled.  Catastrophic backtracking happens overwhelmingly on
*failing* searches, so before running ``re`` each pcre is checked by a hyperscan
database of its own (compiled on first use, exact semantics where hyperscan supports the
pattern, ``HS_FLAG_PREFILTER`` -- a superset -- otherwise): if hyperscan finds no match,
``re`` is not run.  Without hyperscan the caller bounds the bytes given to ``re``
instead (see ``Limits.pcre_window_ungated``).

Patterns on which ``re`` is cheap anyway (anchored with at most one unbounded
quantifier, or with none) get no gate (``needed`` is False).  Bounded repeats larger
than 64 are made unbounded in the gate's copy of the pattern: hyperscan compiles them
very slowly (``{0,4096}``: ~20 s), and a looser gate is still a safe one.
"""
from __future__ import annotations

import logging

from .prefilter import _hs

log = logging.getLogger(__name__)

_UNCOMPILED, _READY, _UNAVAILABLE = 0, 1, -1


class PcreGate:
    """Lazily compiled hyperscan check for one pcre (source pattern + flags)."""

    __slots__ = ("_expr", "_flags", "_db", "_scratch", "_state", "_hit", "needed")

    def __init__(self, pattern: bytes | None, flags: str) -> None:
        self._expr = pattern or b""
        self._flags = flags
        self._db: object = None
        self._scratch: object = None
        usable = _hs is not None and pattern is not None and "x" not in flags
        self._state = _UNCOMPILED if usable else _UNAVAILABLE
        self.needed = pattern is not None  # False: re is cheap on this pattern anyway
        self._hit = False

    @property
    def available(self) -> bool:
        if self._state == _UNCOMPILED:
            self._compile()
        return self._state == _READY

    def _compile(self) -> None:
        assert _hs is not None
        base = _hs.HS_FLAG_SINGLEMATCH | _hs.HS_FLAG_ALLOWEMPTY
        for letter, flag in (("i", _hs.HS_FLAG_CASELESS), ("s", _hs.HS_FLAG_DOTALL),
                             ("m", _hs.HS_FLAG_MULTILINE)):
            if letter in self._flags:
                base |= flag
        for extra in (0, _hs.HS_FLAG_PREFILTER):
            try:
                db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
                db.compile(expressions=[self._expr], ids=[0], elements=1, flags=[base | extra])
                self._scratch = _hs.Scratch(db)
                self._db = db
                self._state = _READY
                return
            except Exception as exc:  # hyperscan.error: unsupported construct, too large
                log.debug("pcre gate: %s", exc)
        self._state = _UNAVAILABLE

    def _on_match(self, *args: object) -> None:
        self._hit = True

    def may_match(self, data: bytes | memoryview) -> bool:
        """False only if the pcre certainly has no match in ``data``."""
        if not self.available:
            return True
        self._hit = False
        self._db.scan(data, match_event_handler=self._on_match,  # type: ignore[attr-defined]
                      scratch=self._scratch)
        return self._hit
