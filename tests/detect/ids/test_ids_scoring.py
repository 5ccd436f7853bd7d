"""AlertScorer: priority table, per-sid and per-classification overrides."""
from __future__ import annotations

import pytest

from honeyswitch.detect.ids import AlertScorer, IdsAlert, ScoreConfig


def alert(sid=1, gid=1, priority=1, classification=None) -> IdsAlert:
    return IdsAlert(timestamp=0.0, sensor="suricata-eve", sid=sid, gid=gid, rev=1, msg="m",
                    classification=classification, priority=priority, severity=None,
                    proto="TCP", src_ip="10.0.0.1", src_port=1, dest_ip="10.0.0.2",
                    dest_port=2, flow_src_ip="10.0.0.1", flow_src_port=1,
                    flow_dest_ip="10.0.0.2", flow_dest_port=2)


@pytest.mark.parametrize(("priority", "score"), [(1, 100), (2, 60), (3, 30), (0, 10), (4, 10), (None, 10)])
def test_default_priorities(priority, score):
    assert AlertScorer().score(alert(priority=priority)) == score


def test_overrides_sid_then_classification_then_priority():
    config = ScoreConfig.from_mapping({
        "priority": {"1": 90, "4": 5},
        "default": 1,
        "sid": {"2034635": 0, "1:2008538": 120, "3:2008538": 7},
        "classification": {"misc ACTIVITY": 2},
    })
    scorer = AlertScorer(config)
    assert scorer(alert(priority=1)) == 90
    assert scorer(alert(priority=2)) == 60  # defaults kept where not overridden
    assert scorer(alert(priority=4)) == 5
    assert scorer(alert(priority=9)) == 1
    assert scorer(alert(sid=2034635, priority=3, classification="Misc activity")) == 0
    assert scorer(alert(sid=2008538, gid=1)) == 120
    assert scorer(alert(sid=2008538, gid=3)) == 7
    assert scorer(alert(sid=2008538, gid=None)) == 90
    assert scorer(alert(sid=5, priority=1, classification="Misc Activity")) == 2


def test_plain_config_objects():
    config = ScoreConfig(by_sid={(None, 7): 50.0}, by_classification={"Web Application Attack": 80})
    scorer = AlertScorer(config)
    assert scorer(alert(sid=7)) == 50
    assert scorer(alert(classification="web application attack")) == 80


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"sids": {}}, "unknown key 'sids'"),
        ({"priority": 5}, "ids.scores.priority: must be a table"),
        ({"priority": {"high": 1}}, "ids.scores.priority: 'high' is not a number"),
        ({"sid": {"1:x": 1}}, "ids.scores.sid"),
        ({"sid": {"5": -1}}, "ids.scores.sid.5: must be a number >= 0"),
        ({"default": True}, "ids.scores.default"),
        ({"classification": {"x": "high"}}, "ids.scores.classification.x"),
    ],
)
def test_config_errors_name_the_key(table, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        ScoreConfig.from_mapping(table)


def test_to_alert_carries_the_ids_details():
    generic = AlertScorer().to_alert(alert(sid=2006446, priority=1))
    assert generic.score == 100 and generic.detector == "suricata-eve"
    assert generic.reason == "[1:2006446:1] m"
    assert generic.details["client"] == ("10.0.0.1", 1) and generic.details["sid"] == 2006446
