"""Multi-literal prefilters: which of many literals occur in a block of bytes?

:class:`HyperscanPrefilter` compiles every literal (hex-escaped, so NUL and regex
metacharacters are safe) into one block-mode database with ``HS_FLAG_SINGLEMATCH``, so
a scan costs at most one Python callback per distinct literal found.  ``occurrences``
uses a second database of the same literals without it (compiled on first use): one
callback per occurrence, bounded by a limit, to place literals in the pieces of a large
chunk with one scan.  Only the block API is used, always with an explicit ``Scratch``
(the python-hyperscan 0.9 stream API has segfaulting corners).  A scratch is not
thread-safe: a prefilter belongs to one thread.

:class:`PythonPrefilter` is the fallback when hyperscan cannot be imported: literals are
indexed by their first four (lower-cased) bytes and the 4-grams of the data are
intersected with that index, then each candidate is confirmed with ``bytes.find``.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

try:  # optional dependency (imported by name: typed alike whether it is installed or not)
    _hs: Any = importlib.import_module("hyperscan")
except Exception:  # pragma: no cover - depends on the environment
    _hs = None

GRAM = 4


class Prefilter(Protocol):
    def scan(self, data: bytes) -> set[int]:
        """Ids of the literals that occur in ``data``."""
        ...

    def occurrences(self, data: bytes, into: list[tuple[int, int]], shift: int,
                    limit: int) -> bool:
        """Append ``(id, end + shift)`` for every occurrence of a literal in ``data``.

        False (``into`` then holds a partial list) if there are more than ``limit`` in
        ``into``, or if this prefilter cannot tell occurrences.
        """
        ...

    def warm(self) -> None:
        """Build now whatever would otherwise be built on first use."""
        ...


def hyperscan_available() -> bool:
    return _hs is not None


def make_prefilter(literals: Sequence[tuple[bytes, bool]], engine: str = "auto") -> Prefilter:
    """A prefilter for ``(literal, nocase)`` pairs, ids being their indexes.

    ``engine`` is ``"hyperscan"``, ``"python"`` or ``"auto"`` (hyperscan if importable
    and the database compiles, else Python).
    """
    if engine not in ("auto", "hyperscan", "python"):
        raise ValueError(f"unknown prefilter engine {engine!r}")
    if not literals:
        return EmptyPrefilter()
    if engine != "python" and _hs is not None:
        try:
            return HyperscanPrefilter(literals)
        except Exception as exc:  # hyperscan.error and friends
            if engine == "hyperscan":
                raise
            log.warning("hyperscan prefilter failed (%s); using the Python one", exc)
    elif engine == "hyperscan":
        raise RuntimeError("hyperscan is not installed")
    return PythonPrefilter(literals)


class EmptyPrefilter:
    def scan(self, data: bytes) -> set[int]:
        return set()

    def occurrences(self, data: bytes, into: list[tuple[int, int]], shift: int,
                    limit: int) -> bool:
        return True

    def warm(self) -> None:
        pass


class HyperscanPrefilter:
    def __init__(self, literals: Sequence[tuple[bytes, bool]]) -> None:
        assert _hs is not None
        exprs = [b"".join(b"\\x%02x" % c for c in lit) for lit, _ in literals]
        flags = [_hs.HS_FLAG_SINGLEMATCH | (_hs.HS_FLAG_CASELESS if nocase else 0)
                 for _, nocase in literals]
        self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        self._db.compile(expressions=exprs, ids=list(range(len(exprs))),
                         elements=len(exprs), flags=flags)
        self._scratch = _hs.Scratch(self._db)
        self._hits: set[int] = set()
        self._exprs, self._flags = exprs, flags
        self._every: Any = None  # the same literals without SINGLEMATCH, built on first use
        self._every_scratch: Any = None

    def _on_match(self, ident: int, start: int, end: int, flags: int, ctx: object) -> None:
        self._hits.add(ident)

    def scan(self, data: bytes) -> set[int]:
        if not data:
            return set()
        self._hits = hits = set[int]()
        self._db.scan(data, match_event_handler=self._on_match, scratch=self._scratch)
        return hits

    def occurrences(self, data: bytes, into: list[tuple[int, int]], shift: int,
                    limit: int) -> bool:
        if not data:
            return True
        if self._every is None:
            self._compile_every()
        append = into.append

        def on_match(ident: int, start: int, end: int, flags: int, ctx: object) -> bool:
            append((ident, end + shift))
            return len(into) > limit  # True stops the scan

        try:
            self._every.scan(data, match_event_handler=on_match, scratch=self._every_scratch)
        except _hs.ScanTerminated:
            return False
        return True

    def warm(self) -> None:
        if self._every is None:
            self._compile_every()

    def _compile_every(self) -> None:
        flags = [f & ~_hs.HS_FLAG_SINGLEMATCH for f in self._flags]
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(expressions=self._exprs, ids=list(range(len(self._exprs))),
                   elements=len(self._exprs), flags=flags)
        self._every_scratch = _hs.Scratch(db)
        self._every = db


class PythonPrefilter:
    def __init__(self, literals: Sequence[tuple[bytes, bool]]) -> None:
        self._literals = [(lit.lower() if nocase else lit, nocase) for lit, nocase in literals]
        self._index: dict[bytes, list[int]] = {}
        self._short: list[int] = []
        for ident, (lit, _) in enumerate(self._literals):
            if len(lit) >= GRAM:
                self._index.setdefault(lit[:GRAM].lower(), []).append(ident)
            else:
                self._short.append(ident)

    def warm(self) -> None:
        pass  # nothing is built lazily

    def scan(self, data: bytes) -> set[int]:
        if not data:
            return set()
        lower = data.lower()
        grams = {lower[i : i + GRAM] for i in range(len(lower) - GRAM + 1)}
        hits: set[int] = set()
        for gram in grams.intersection(self._index):
            for ident in self._index[gram]:
                if self._present(ident, data, lower):
                    hits.add(ident)
        for ident in self._short:
            if self._present(ident, data, lower):
                hits.add(ident)
        return hits

    def occurrences(self, data: bytes, into: list[tuple[int, int]], shift: int,
                    limit: int) -> bool:
        return False  # the caller scans piece by piece

    def _present(self, ident: int, data: bytes, lower: bytes) -> bool:
        lit, nocase = self._literals[ident]
        return (lower if nocase else data).find(lit) >= 0
