"""Fixtures for the external-IDS tests: where the alert samples are."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
_SHARED = _ROOT.parent / "shared" / "data" / "alerts"


@pytest.fixture
def fixtures_dir() -> Path:
    """tests/fixtures/alerts: hand-written Snort logs from the documented formats."""
    return _ROOT / "tests" / "fixtures" / "alerts"


@pytest.fixture
def shared_alerts() -> Callable[[str], list[str]]:
    """Lines of a real Suricata 7 output file in shared/data/alerts (skip if absent)."""

    def read(name: str) -> list[str]:
        path = _SHARED / name
        if not path.exists():
            pytest.skip(f"{path} not available")
        return path.read_text(encoding="utf-8").splitlines()

    return read
