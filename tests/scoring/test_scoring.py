"""Source scores decay, incidents group a source's alerts, the blacklist decision."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.scoring.decay import DecayingScores
from honeyswitch.scoring.engine import Scoring, ScoringConfig
from honeyswitch.scoring.incidents import TIMELINE_MAX, IncidentTracker


def test_scores_halve_every_half_life():
    s = DecayingScores(half_life=10)
    assert s.add("a", 100, now=0) == 100
    assert s.get("a", now=10) == pytest.approx(50)
    assert s.get("a", now=30) == pytest.approx(12.5)
    assert s.add("a", 50, now=10) == pytest.approx(100)
    assert s.get("b", now=5) == 0


def test_decay_is_bounded_in_keys_and_prunes_faded_sources():
    s = DecayingScores(half_life=1, max_keys=100)
    for i in range(1000):
        s.add(f"198.18.{i // 256}.{i % 256}", i, now=0)
    assert len(s) <= 100
    assert s.items(now=0)[0][0] == "198.18.3.231"  # the strongest is kept
    kept = len(s)
    assert s.prune(now=100) == kept and len(s) == 0


@given(st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 1e4)), max_size=30))
def test_decayed_total_never_exceeds_the_sum(points):
    s = DecayingScores(half_life=60)
    points = sorted(points)
    for at, score in points:
        total = s.add("x", score, at)
    if points:
        assert total <= sum(p[1] for p in points) * (1 + 1e-9)
        assert total >= points[-1][1] - 1e-9


def test_incident_groups_alerts_while_the_source_stays_active():
    t = IncidentTracker(gap=60)
    a, closed = t.add("198.18.0.1", 0, 10, service="web", session_id="s1", detector="signature", reason="sqli")
    b, _ = t.add("198.18.0.1", 50, 20, service="ssh", session_id="s2", detector="suricata", reason="scan")
    assert a is b and not closed
    assert b.alerts == 2 and b.score == 30 and b.services == {"web", "ssh"}
    assert b.timeline == [(0, 10), (50, 30)]
    c, closed = t.add("198.18.0.1", 200, 5)
    assert c is not a and closed == [a] and a.closed
    other, _ = t.add("198.18.0.2", 200, 1)
    assert other is not c
    assert t.close_idle(now=1000) and not t.open_incidents()


def test_incident_timeline_and_reasons_are_bounded():
    t = IncidentTracker(gap=1e9)
    for i in range(TIMELINE_MAX * 3):
        inc, _ = t.add("198.18.0.9", i, 1, reason=f"r{i}")
    assert len(inc.timeline) == TIMELINE_MAX
    assert inc.timeline[0] == (0, 1)
    assert len(inc.reasons) <= 20
    assert inc.as_dict()["alerts"] == TIMELINE_MAX * 3


def test_engine_blacklists_over_threshold_but_never_the_allowlist():
    eng = Scoring(ScoringConfig(half_life=100, blacklist_threshold=150), allowed=lambda ip: ip == "198.18.0.2")
    d = eng.on_alert({"src_ip": "198.18.0.1", "score": 100, "service": "web"}, now=0)
    assert d is not None and d.opened and not d.blacklist
    d = eng.on_alert({"src_ip": "198.18.0.1", "score": 60, "service": "web"}, now=1)
    assert d.blacklist and not d.opened and d.source_score == pytest.approx(100 * 0.5 ** 0.01 + 60)
    d = eng.on_alert({"src_ip": "198.18.0.2", "score": 1000}, now=1)
    assert not d.blacklist
    # Decay: slow alerts never add up to the threshold.
    eng2 = Scoring(ScoringConfig(half_life=10, blacklist_threshold=150))
    assert not any(eng2.on_alert({"src_ip": "198.18.0.3", "score": 60}, now=i * 100).blacklist for i in range(10))


@pytest.mark.parametrize("alert", [{}, {"src_ip": None, "score": 1}, {"src_ip": "x", "score": "9"}])
def test_engine_ignores_malformed_alerts(alert):
    assert Scoring(ScoringConfig()).on_alert(alert, now=0) is None
