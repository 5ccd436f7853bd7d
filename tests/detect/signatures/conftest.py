"""Helpers for the signature tests: build a detector from rule text, feed chunks."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pytest

from honeyswitch.detect.base import Alert, FlowInfo
from honeyswitch.detect.signatures import SignatureDetector, hyperscan_available, parse_rules

ENGINES = ["python"] + (["hyperscan"] if hyperscan_available() else [])


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sig:
    """Build detectors from rule text; run chunk scripts through a session."""

    engine: str
    clock: FakeClock = field(default_factory=FakeClock)

    def detector(self, rules: str, **kw: object) -> SignatureDetector:
        ruleset = parse_rules(rules)
        assert not ruleset.skipped, [(s.reason, s.detail) for s in ruleset.skipped]
        kw.setdefault("prefilter", self.engine)
        kw.setdefault("clock", self.clock)
        return SignatureDetector(ruleset, **kw)  # type: ignore[arg-type]

    @staticmethod
    def flow(service: str = "svc", port: int = 9999, src: str = "192.0.2.10",
             sport: int = 40000, session: str = "s1") -> FlowInfo:
        return FlowInfo(service, session, src, sport, "198.51.100.1", port)

    def run(self, det: SignatureDetector, chunks: Iterable[bytes | tuple[bytes, bool]],
            flow: FlowInfo | None = None) -> list[Alert]:
        """Feed chunks (to_server unless given as (data, to_server)); all alerts."""
        ins = det.new_stream(flow or self.flow())
        alerts: list[Alert] = []
        for chunk in chunks:
            data, to_server = chunk if isinstance(chunk, tuple) else (chunk, True)
            alerts.extend(ins.feed(data, to_server))
        return alerts

    def sids(self, rules: str, chunks: Sequence[bytes | tuple[bytes, bool]],
             flow: FlowInfo | None = None, **kw: object) -> list[int]:
        det = self.detector(rules, **kw)
        return [a.details["sid"] for a in self.run(det, chunks, flow)]


@pytest.fixture(params=ENGINES)
def sig(request: pytest.FixtureRequest) -> Sig:
    """A Sig per prefilter engine (python, and hyperscan when installed)."""
    return Sig(request.param)


@pytest.fixture
def sig1() -> Sig:
    """A Sig with the default engine only (for tests that need not run twice)."""
    return Sig("auto")

