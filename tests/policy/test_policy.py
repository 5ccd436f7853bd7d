"""The policy hub as scripts of events: alerts, sessions and IDS lines in, decisions out.

No daemon, no sockets: each test hands the policy what a daemon would and reads the
decisions it returns (and the time is the test's)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from honeyswitch.detect.base import Alert
from honeyswitch.detect.ids import make_parser
from honeyswitch.events import make_event
from honeyswitch.policy.decisions import (
    AlertSession,
    Decision,
    ListSource,
    Record,
    SaveIncident,
    SwitchClient,
)
from honeyswitch.policy.hub import ENDED_LINGER, Policy
from honeyswitch.testing.harness import make_config

T0 = 1_800_000_000.0
WEB = {"session_id": "s1", "service": "web", "src_ip": "203.0.113.9", "src_port": 40000,
       "dest_ip": "192.0.2.5", "dest_port": 8080}


def config(tmp: Path, ids: bool = False, **sections: Any) -> Any:
    if ids:
        sections["ids"] = [{"name": "suricata", "format": "suricata-eve", "path": str(tmp / "eve.json")}]
    return make_config(tmp, [{"name": "web", "listen": "127.0.0.1:8080", "main": "tcp://127.0.0.1:1",
                              "honeypot": "tcp://127.0.0.1:2"}], **sections)


def make_policy(tmp: Path, listed: set[str] | None = None, owns: bool = True, **kw: Any) -> Policy:
    listed = set() if listed is None else listed
    return Policy(config(tmp, **kw), listed=listed.__contains__, owns_source=lambda ip: owns)


def alert(score: float, src: str = "203.0.113.9", session: dict[str, Any] | None = None) -> dict[str, Any]:
    return make_event("alert", session, src_ip=src, detector="signature", score=score, reason="bad")


def brief(decisions: list[Decision]) -> list[tuple[Any, ...]]:
    """Decisions as short tuples a test can compare."""
    out: list[tuple[Any, ...]] = []
    for d in decisions:
        if isinstance(d, Record):
            out.append(("record", d.event["event_type"], d.event.get("session_id")))
        elif isinstance(d, ListSource):
            out.append(("list", d.ip, d.by))
        elif isinstance(d, SwitchClient):
            out.append(("switch", d.ip, d.by))
        elif isinstance(d, AlertSession):
            out.append(("alert_session", d.session_id, d.alert.detector, d.alert.score))
        elif isinstance(d, SaveIncident):
            out.append(("save", d.incident["src_ip"], d.incident["alerts"]))
    return out


def eve(src: tuple[str, int], dest: tuple[str, int], sid: int = 2001219, severity: int = 1) -> Any:
    line = json.dumps({
        "timestamp": "2026-12-03T10:00:00.000000+0000", "event_type": "alert", "src_ip": src[0],
        "src_port": src[1], "dest_ip": dest[0], "dest_port": dest[1], "proto": "TCP",
        "alert": {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1, "signature": "ET SCAN",
                  "category": "Attempted Information Leak", "severity": severity}})
    parsed = make_parser("suricata-eve").parse_line(line)
    assert parsed is not None
    return parsed


def test_alerts_add_up_to_an_incident_saved_once_a_second(tmp_path: Path) -> None:
    p = make_policy(tmp_path)
    assert brief(p.alert(alert(50), T0)) == [("save", "203.0.113.9", 1), ("record", "incident_open", None)]
    assert brief(p.alert(alert(50), T0 + 1)) == []  # a growing incident is not rewritten per alert
    assert brief(p.tick(T0 + 2)) == [("save", "203.0.113.9", 2)]
    assert brief(p.tick(T0 + 3)) == []
    assert p.source_scores(T0 + 1) == [{"src_ip": "203.0.113.9", "score": pytest.approx(99.9, abs=0.2)}]


def test_the_alert_that_crosses_the_threshold_lists_the_source_and_switches_its_sessions(tmp_path: Path) -> None:
    listed: set[str] = set()
    p = make_policy(tmp_path, listed, scoring={"blacklist_threshold": 120})
    p.alert(alert(100), T0)
    assert brief(p.alert(alert(30), T0)) == [("list", "203.0.113.9", "scoring"), ("switch", "203.0.113.9", "blacklist")]
    listed.add("203.0.113.9")
    assert brief(p.alert(alert(30), T0)) == []  # listed once


def test_the_allowlist_is_never_listed(tmp_path: Path) -> None:
    p = make_policy(tmp_path, scoring={"blacklist_threshold": 10}, blacklist={"allowlist": ["203.0.113.0/24"]})
    assert ("list", "203.0.113.9", "scoring") not in brief(p.alert(alert(500), T0))
    score = p.source_score_of("203.0.113.9", lambda: T0)
    assert score is not None and score() == 0.0  # never switched by its source's score either


def test_source_switching_can_be_off(tmp_path: Path) -> None:
    assert make_policy(tmp_path, scoring={"source_switch": False}).source_score_of("203.0.113.9", lambda: T0) is None
    p = make_policy(tmp_path)
    p.alert(alert(70), T0)
    score = p.source_score_of("203.0.113.9", lambda: T0)
    assert score is not None and score() == pytest.approx(70)


@pytest.mark.parametrize("on_switch", [True, False])
def test_a_switched_session_lists_its_source_if_configured(tmp_path: Path, on_switch: bool) -> None:
    p = make_policy(tmp_path, blacklist={"on_switch": on_switch})
    expected = [("list", "203.0.113.9", "operator")] if on_switch else []
    assert brief(p.session_switched(WEB, "operator")) == expected


def test_an_idle_incident_closes(tmp_path: Path) -> None:
    p = make_policy(tmp_path, scoring={"incident_gap": 30})
    p.alert(alert(10), T0)
    assert brief(p.tick(T0 + 31)) == [("save", "203.0.113.9", 1), ("record", "incident_close", None)]


def test_an_ids_alert_goes_to_its_live_session_either_direction(tmp_path: Path) -> None:
    p = make_policy(tmp_path, ids=True)
    p.session_started(WEB)
    to_server = eve(("203.0.113.9", 40000), ("192.0.2.5", 8080))
    to_client = eve(("192.0.2.5", 8080), ("203.0.113.9", 40000))
    for line in (to_server, to_client):
        assert brief(p.ids_alert("suricata", line, Alert(100, "suricata", "ET SCAN"), T0)) == [
            ("alert_session", "s1", "suricata", 100)]
    assert p.ids_counts["suricata"] == {"matched": 2, "unmatched": 0}


def test_an_alert_on_mains_leg_finds_the_session(tmp_path: Path) -> None:
    p = make_policy(tmp_path, ids=True)
    p.session_started(WEB)
    p.backend_opened(WEB, ("127.0.0.1", 51000), ("127.0.0.1", 8081))
    leg = eve(("127.0.0.1", 51000), ("127.0.0.1", 8081))
    assert brief(p.ids_alert("suricata", leg, Alert(60, "suricata", "x"), T0)) == [("alert_session", "s1", "suricata", 60)]


def test_a_late_alert_names_its_ended_session_then_only_its_source(tmp_path: Path) -> None:
    p = make_policy(tmp_path, ids=True)
    p.session_started(WEB)
    p.session_ended(WEB, T0)
    line = eve(("203.0.113.9", 40000), ("192.0.2.5", 8080))
    late = brief(p.ids_alert("suricata", line, Alert(100, "suricata", "x"), T0 + 1))
    assert late[0] == ("record", "alert", "s1")  # too late to switch: recorded, and it scores the source
    assert ("record", "incident_open", None) in late
    p.tick(T0 + ENDED_LINGER + 1)
    gone = brief(p.ids_alert("suricata", line, Alert(100, "suricata", "x"), T0 + ENDED_LINGER + 2))
    assert gone[0] == ("record", "alert", None)
    assert p.ids_counts["suricata"] == {"matched": 1, "unmatched": 1}
    assert p.source_scores(T0 + ENDED_LINGER + 2)[0]["src_ip"] == "203.0.113.9"


def test_an_unmatched_alert_is_recorded_by_the_worker_that_owns_its_source(tmp_path: Path) -> None:
    line = eve(("203.0.113.50", 1234), ("192.0.2.5", 8080))
    assert brief(make_policy(tmp_path, ids=True, owns=False).ids_alert("suricata", line, Alert(10, "s", "x"), T0)) == []
    owner = brief(make_policy(tmp_path, ids=True).ids_alert("suricata", line, Alert(10, "s", "x"), T0))
    assert owner[0] == ("record", "alert", None)


def test_without_ids_feeds_sessions_are_not_indexed(tmp_path: Path) -> None:
    p = make_policy(tmp_path)
    p.session_started(WEB)
    assert len(p.index) == 0


def test_a_reload_changes_thresholds_and_keeps_scores(tmp_path: Path) -> None:
    p = make_policy(tmp_path, scoring={"blacklist_threshold": 1000})
    p.alert(alert(150), T0)
    p.reconfigure(config(tmp_path, scoring={"blacklist_threshold": 200}))
    assert ("list", "203.0.113.9", "scoring") in brief(p.alert(alert(60), T0))
