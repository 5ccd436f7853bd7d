"""Fixtures of the end-to-end detection tests: the test web application as main (real
data) and honeypot (fake data), each its own process."""
from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from honeyswitch.testing.webapp import WebAppProcess


class WebPair(NamedTuple):
    main: WebAppProcess
    honeypot: WebAppProcess


@pytest.fixture
def webpair(tmp_path) -> Iterator[WebPair]:
    main = WebAppProcess.start(tmp_path / "main-access.log", data="real", proxy_protocol=True)
    try:
        honeypot = WebAppProcess.start(tmp_path / "honeypot-access.log", data="fake", proxy_protocol=True)
    except BaseException:
        main.stop()
        raise
    try:
        yield WebPair(main, honeypot)
    finally:
        main.stop()
        honeypot.stop()
