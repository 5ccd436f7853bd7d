"""Which of honeyswitch's hot modules run compiled, and the switch back to pure Python.

The modules in :data:`COMPILED` (the session core, the executor and connection
adapters, the transcript ring: the code every chunk and every session goes through) are
compiled ahead of time with mypyc when the package is installed (``setup.py``); their
source stays the Python next to them, and the pure-Python modules are the fallback
wherever no C compiler was there to build them.

Compiled modules are used only when they were built from the sources as they are now:
the shared library of a build is named after a digest of those sources
(``honeyswitch/_native_<digest>__mypyc*.so``), and :func:`install` looks for the one
matching the files on disk.  A source edited since the build (an editable install under
development) therefore runs as Python, never as stale compiled code.  The choice is all
or nothing, since compiled modules reach into each other's classes directly.

``HONEYSWITCH_PURE=1`` in the environment runs the Python sources even when compiled
modules are current (the test suite runs the core and the relay both ways).

This module is read by ``setup.py`` before the package can be imported: it imports
nothing of honeyswitch and nothing outside the standard library.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

COMPILED = (
    "honeyswitch.core.types",
    "honeyswitch.core.divergence",
    "honeyswitch.core.replies",
    "honeyswitch.core.session",
    "honeyswitch.relay.conns",
    "honeyswitch.relay.flusher",
    "honeyswitch.relay.runner",
    "honeyswitch.record.transcripts",
    "honeyswitch.relay.sockets",
    "honeyswitch.relay.ids",
    "honeyswitch.relay.backends",
    "honeyswitch.relay.listener",
    "honeyswitch.relay.registry",
    "honeyswitch.events",
    "honeyswitch.record.escape",
    "honeyswitch.record.writer",
    "honeyswitch.record.recorder",
    "honeyswitch.record.tally",
    "honeyswitch.store.db",
    "honeyswitch.store.blacklist",
    "honeyswitch.policy.hub",
    "honeyswitch.app",
)
PURE_ENV = "HONEYSWITCH_PURE"
_ROOT = Path(__file__).resolve().parent.parent  # the directory holding the package
_state = {"compiled": False}


def source_path(module: str, root: Path = _ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def digest(root: Path = _ROOT, modules: Sequence[str] = COMPILED) -> str:
    """A digest of the compiled modules' sources (names and bytes), 16 hex digits."""
    h = hashlib.sha256()
    for module in modules:
        h.update(module.encode() + b"\0")
        h.update(source_path(module, root).read_bytes())
    return h.hexdigest()[:16]


def group_name(root: Path = _ROOT) -> str:
    """The mypyc group (shared library) name of a build of the sources under ``root``."""
    return f"honeyswitch._native_{digest(root)}"


def _built(root: Path) -> bool:
    """Whether a build of the current sources is there and loads."""
    try:
        name = group_name(root) + "__mypyc"
    except OSError:
        return False
    lib = name.rsplit(".", 1)[1]
    if not any((root / "honeyswitch" / (lib + s)).exists() for s in importlib.machinery.EXTENSION_SUFFIXES):
        return False
    try:
        importlib.import_module(name)  # only capsules: the modules initialise when imported
    except ImportError:
        return False
    return True


class _SourceFirst:  # a meta path finder (importlib.abc costs 10 ms of imports)
    """Loads the compiled modules' names from their ``.py`` files."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        if name not in COMPILED:
            return None
        src = source_path(name)
        return importlib.util.spec_from_file_location(name, src) if src.exists() else None


def install() -> None:
    """Choose once, before any of the modules is imported (``honeyswitch/__init__``)."""
    if any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        return
    if not os.environ.get(PURE_ENV) and _built(_ROOT):
        _state["compiled"] = True
        return
    sys.meta_path.insert(0, _SourceFirst())


def compiled() -> bool:
    """Whether the compiled modules are in use (for logs, the bench and tests)."""
    return _state["compiled"]
