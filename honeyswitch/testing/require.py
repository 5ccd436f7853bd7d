"""Skip (or, under CI, fail) a test whose real program or privilege is missing.

In CI every program a test needs is installed by ``.ci/run``; a missing one there is a
broken CI script, not a reason to skip silently.
"""
from __future__ import annotations

import os
import shutil

import pytest


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (.ci/run must provide it)")
    pytest.skip(what)


def program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} is not installed")
    return path  # type: ignore[return-value]


def root() -> None:
    if os.geteuid() != 0:
        _missing("needs root")
