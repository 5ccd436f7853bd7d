"""The lab fixture of the namespace tests: everything it creates is removed afterwards."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from honeyswitch.testing import netns, require


@pytest.fixture
def lab() -> Iterator[netns.Lab]:
    require.root()
    for program in ("ip", "nsenter", "nft", "sysctl"):
        require.program(program)
    lab = netns.Lab()
    try:
        yield lab
    finally:
        lab.close()

