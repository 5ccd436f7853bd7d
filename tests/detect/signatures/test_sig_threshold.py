"""threshold / detection_filter: counted per source across sessions, with a fake clock."""
from __future__ import annotations

import pytest

from honeyswitch.detect.signatures.rule import Threshold
from honeyswitch.detect.signatures.state import ThresholdTracker


def R(spec: str, flow: str = "to_server") -> str:
    return (f'alert tcp any any -> any any (msg:"t"; flow:{flow}; content:"hit"; {spec} '
            f'sid:5; rev:1;)')


def hits(sig, det, n: int, src: str = "192.0.2.10", session: str = "s") -> int:
    """Alerts from n matching sessions of one source."""
    total = 0
    for i in range(n):
        total += len(sig.run(det, [b"hit"], sig.flow(src=src, session=f"{session}{i}")))
    return total


def test_limit(sig) -> None:
    det = sig.detector(R("threshold: type limit, track by_src, count 2, seconds 60;"))
    assert hits(sig, det, 5) == 2
    sig.clock.advance(61)
    assert hits(sig, det, 5) == 2


def test_threshold_every_nth(sig) -> None:
    det = sig.detector(R("threshold: type threshold, track by_src, count 3, seconds 60;"))
    assert [hits(sig, det, 1) for _ in range(7)] == [0, 0, 1, 0, 0, 1, 0]


def test_threshold_window_expires(sig) -> None:
    det = sig.detector(R("threshold: type threshold, track by_src, count 3, seconds 60;"))
    assert hits(sig, det, 2) == 0
    sig.clock.advance(61)
    assert hits(sig, det, 2) == 0  # counting started again
    assert hits(sig, det, 1) == 1


def test_both(sig) -> None:
    det = sig.detector(R("threshold: type both, track by_src, count 3, seconds 60;"))
    assert hits(sig, det, 10) == 1
    sig.clock.advance(60)
    assert hits(sig, det, 3) == 1


def test_detection_filter(sig) -> None:
    det = sig.detector(R("detection_filter: track by_src, count 2, seconds 60;"))
    assert [hits(sig, det, 1) for _ in range(5)] == [0, 0, 1, 1, 1]


def test_sources_are_counted_separately(sig) -> None:
    det = sig.detector(R("threshold: type threshold, track by_src, count 3, seconds 60;"))
    assert hits(sig, det, 2, src="192.0.2.1") == 0
    assert hits(sig, det, 2, src="192.0.2.2") == 0
    assert hits(sig, det, 1, src="192.0.2.1") == 1


def test_matches_within_one_session_count(sig) -> None:
    det = sig.detector(R("threshold: type threshold, track by_src, count 3, seconds 60;"))
    assert len(sig.run(det, [b"hit ", b"hit ", b"hit "])) == 1


def test_by_dst_on_server_replies_tracks_the_client(sig) -> None:
    det = sig.detector(R("threshold: type threshold, track by_dst, count 2, seconds 60;",
                         flow="to_client"))
    a = sig.run(det, [(b"hit", False)], sig.flow(src="192.0.2.7", session="a"))
    b = sig.run(det, [(b"hit", False)], sig.flow(src="192.0.2.7", session="b"))
    c = sig.run(det, [(b"hit", False)], sig.flow(src="192.0.2.8", session="c"))
    assert (len(a), len(b), len(c)) == (0, 1, 0)


def test_by_rule_counts_everyone(sig) -> None:
    det = sig.detector(R("threshold: type limit, track by_rule, count 1, seconds 60;"))
    assert hits(sig, det, 1, src="192.0.2.1") == 1
    assert hits(sig, det, 1, src="192.0.2.2") == 0


@pytest.mark.parametrize("spec", [
    "threshold: type limit, track by_src, count 1;",
    "threshold: type sometimes, track by_src, count 1, seconds 1;",
    "threshold: type limit, track by_nobody, count 1, seconds 1;",
    "threshold: type limit, track by_src, count 0, seconds 1;",
    "detection_filter: type limit, track by_src, count 1, seconds 1;",
])
def test_bad_threshold_is_rejected(sig1, spec: str) -> None:
    from honeyswitch.detect.signatures import parse_rules
    rs = parse_rules(R(spec))
    assert not rs.rules and rs.skipped[0].reason.startswith("invalid")


def test_tracker_is_bounded() -> None:
    tracker = ThresholdTracker(clock=lambda: 0.0, max_entries=100)
    spec = Threshold("limit", "by_src", 1, 60.0)
    for i in range(1000):
        tracker.allow(spec, (1, 1, "limit", "by_src", f"10.0.{i // 250}.{i % 250}"))
    assert len(tracker) <= 100
