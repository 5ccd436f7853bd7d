"""The policy hub with ``[cluster]``, as scripts of events: the other hosts' part of a
source's score (handed in as the sync component reports it) meets the blacklist
threshold with this host's, and every alert publishes this host's own part.

No Redis here: what the sync component would report is the script's input."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_policy import T0, WEB, alert, brief, make_policy

from honeyswitch.policy.decisions import Decision, PublishShare
from honeyswitch.policy.hub import Policy

IP = "203.0.113.9"
CLUSTER = {"redis": "redis://127.0.0.1:6379", "host": "gw-1"}
HALF_LIFE = 600.0


def clustered(tmp: Path, listed: set[str] | None = None, owns: bool = True, **kw: Any) -> Policy:
    kw.setdefault("scoring", {"blacklist_threshold": 200, "half_life": HALF_LIFE})
    return make_policy(tmp, listed, owns, cluster=CLUSTER, **kw)


def shares(decisions: list[Decision]) -> list[PublishShare]:
    return [d for d in decisions if isinstance(d, PublishShare)]


def test_standalone_publishes_nothing_and_lists_scores_as_before(tmp_path: Path) -> None:
    p = make_policy(tmp_path)
    assert not shares(p.alert(alert(50), T0))
    assert p.source_scores(T0) == [{"src_ip": IP, "score": 50.0}]


def test_every_alert_publishes_this_hosts_own_part_with_its_incident(tmp_path: Path) -> None:
    p = clustered(tmp_path, scoring={"blacklist_threshold": 200, "half_life": HALF_LIFE, "incident_gap": 30})
    p.remote_score(IP, 120.0, T0, T0)  # the other hosts' part is never published as ours
    first = shares(p.alert(alert(50), T0))
    assert len(first) == 1 and (first[0].share.ip, first[0].share.score, first[0].share.at) == (IP, 50.0, T0)
    inc = first[0].share.incident
    assert inc is not None and (inc.alerts, inc.score, inc.open_until) == (1, 50.0, T0 + 30)
    later = shares(p.alert(alert(50), T0 + HALF_LIFE))[0].share  # 50 halved, plus 50
    assert later.score == pytest.approx(75.0) and later.at == T0 + HALF_LIFE
    assert later.incident is not None and later.incident.id != inc.id  # the gap closed the first one
    assert later.incident.alerts == 1


def test_remote_part_and_a_local_alert_add_up_to_one_blacklisting(tmp_path: Path) -> None:
    p = clustered(tmp_path)
    assert p.remote_score(IP, 150.0, T0, T0) == []  # 150 < 200: nothing yet
    out = p.alert(alert(60), T0 + 1)
    assert brief(out)[-2:] == [("list", IP, "scoring"), ("switch", IP, "blacklist")]
    assert isinstance(out[-1], PublishShare) and out[-1].share.score == 60.0  # after the listing
    score = p.source_score_of(IP, lambda: T0 + 1)
    assert score is not None and score() == pytest.approx(210, abs=0.5)  # a session's inline check sees both


def test_a_remote_update_that_takes_the_sum_over_lists_and_switches(tmp_path: Path) -> None:
    listed: set[str] = set()
    p = clustered(tmp_path, listed)
    p.alert(alert(80), T0)
    assert p.remote_score(IP, 100.0, T0, T0) == []  # 180
    out = p.remote_score(IP, 130.0, T0 + 1, T0 + 1)  # replaced, not added: 80 + 130
    assert brief(out) == [("list", IP, "scoring"), ("switch", IP, "blacklist")]
    assert "with other hosts" in out[0].reason  # type: ignore[union-attr]
    listed.add(IP)
    assert p.remote_score(IP, 140.0, T0 + 2, T0 + 2) == []  # listed and over already: once


def test_crossing_while_listed_by_the_entry_switches_the_live_sessions(tmp_path: Path) -> None:
    # The other host's blacklist entry may arrive before its score share.
    p = clustered(tmp_path, {IP})
    assert brief(p.remote_score(IP, 250.0, T0, T0)) == [("switch", IP, "blacklist")]


def test_the_remote_part_decays_with_the_same_half_life(tmp_path: Path) -> None:
    p = clustered(tmp_path)
    p.remote_score(IP, 160.0, T0, T0 + HALF_LIFE)  # reported late: it halved meanwhile
    assert p.source_scores(T0 + HALF_LIFE) == [{"src_ip": IP, "score": 0.0, "remote": 80.0}]
    assert brief(p.alert(alert(100), T0 + HALF_LIFE)).count(("list", IP, "scoring")) == 0  # 180
    p.remote_score(IP, 0.0, T0, T0 + HALF_LIFE)  # faded away everywhere else
    assert p.source_scores(T0 + HALF_LIFE) == [{"src_ip": IP, "score": 100.0, "remote": 0.0}]


def test_allowlisted_sources_and_sources_of_other_workers_are_left_alone(tmp_path: Path) -> None:
    allowed = clustered(tmp_path, blacklist={"allowlist": ["203.0.113.0/24"]})
    assert allowed.remote_score(IP, 500.0, T0, T0) == []
    other_worker = clustered(tmp_path, owns=False)  # the worker that owns it lists it
    assert other_worker.remote_score(IP, 500.0, T0, T0) == []
    off = clustered(tmp_path, scoring={"blacklist_threshold": 0})
    assert off.remote_score(IP, 500.0, T0, T0) == []


def test_local_shares_give_every_scored_source_without_the_remote_part(tmp_path: Path) -> None:
    p = clustered(tmp_path)
    p.alert(alert(40), T0)
    p.alert(alert(30, src="198.51.100.4"), T0 + 5)
    p.remote_score("192.0.2.77", 90.0, T0, T0)  # scored elsewhere only: not ours to publish
    got = {s.ip: (s.score, s.at) for s in p.local_shares()}
    assert got == {IP: (40.0, T0), "198.51.100.4": (30.0, T0 + 5)}


def test_sources_scored_only_elsewhere_are_listed_by_their_whole_score(tmp_path: Path) -> None:
    p = clustered(tmp_path)
    p.alert(alert(40), T0)
    p.remote_score("192.0.2.77", 90.0, T0, T0)
    assert [r["src_ip"] for r in p.source_scores(T0)] == ["192.0.2.77", IP]


def test_a_switched_session_is_listed_and_published_like_any_listing(tmp_path: Path) -> None:
    # (App publishes what Blacklist.add returns for every ListSource.)
    assert brief(clustered(tmp_path).session_switched(WEB, "operator")) == [("list", IP, "operator")]
