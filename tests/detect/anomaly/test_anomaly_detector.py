"""The inline detector: alerts before forwarding at protocol boundaries, once per request."""
from __future__ import annotations

import random

import pytest
from anomaly_corpus import benign_http
from hypothesis import given, settings
from hypothesis import strategies as st

from honeyswitch.detect.anomaly import (
    AlertPolicy,
    AnomalyDetector,
    AnomalyModel,
    ModelConfig,
    Shape,
    fit,
    split_stream,
)
from honeyswitch.detect.base import FlowInfo, InlineDetector

FLOW = FlowInfo("web", "s1", "198.51.100.7", 40000, "10.0.0.5", 80)
ATTACK = (b"GET /search?q=%22%3E%3Cscript%3Ealert(document.cookie)%3C/script%3E HTTP/1.1\r\n"
          b"Host: shop.example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n")
REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture(scope="module")
def model() -> AnomalyModel:
    return fit(benign_http(300, 7), ModelConfig(shape=Shape(percent_decode=True)), "web")


def _detector(model: AnomalyModel, request_end: bytes | None = b"\r\n\r\n") -> AnomalyDetector:
    return AnomalyDetector({"web": model}, {"web": AlertPolicy(request_end=request_end)})


def test_is_an_inline_detector(model: AnomalyModel) -> None:
    det: InlineDetector = _detector(model)
    assert det.name == "anomaly"


def test_benign_requests_pass(model: AnomalyModel) -> None:
    insp = _detector(model).new_stream(FLOW)
    alerts = []
    for req in benign_http(40, 99):
        alerts += insp.feed(req[:10], True)
        alerts += insp.feed(req[10:], True)
        alerts += insp.feed(REPLY, False)
    assert len(alerts) <= 2  # ~1 % false positives by calibration


def test_attack_flagged_before_server_reply(model: AnomalyModel) -> None:
    insp = _detector(model).new_stream(FLOW)
    assert insp.feed(ATTACK[:40], True) == []  # no boundary yet
    alerts = insp.feed(ATTACK[40:], True)  # completes the head: scored before forwarding
    assert len(alerts) == 1
    a = alerts[0]
    assert a.detector == "anomaly" and 60 <= a.score <= 100
    assert {"distance", "threshold", "length"} <= set(a.details) and a.details["partial"] is True
    assert a.details["distance"] > a.details["threshold"] and a.details["length"] == len(ATTACK)
    assert "web" in a.reason
    assert insp.feed(REPLY, False) == []  # one alert per request


def test_boundary_split_across_chunks(model: AnomalyModel) -> None:
    insp = _detector(model).new_stream(FLOW)
    cut = len(ATTACK) - 2  # "...\r\n\r" | "\n"
    assert insp.feed(ATTACK[:cut], True) == []
    assert len(insp.feed(ATTACK[cut:], True)) == 1


def test_without_boundary_alerts_when_server_replies(model: AnomalyModel) -> None:
    insp = _detector(model, request_end=None).new_stream(FLOW)
    assert insp.feed(ATTACK, True) == []
    (alert,) = insp.feed(REPLY, False)
    assert alert.details["partial"] is False
    assert insp.feed(REPLY, False) == []


def test_each_request_scored_afresh(model: AnomalyModel) -> None:
    insp = _detector(model).new_stream(FLOW)
    assert len(insp.feed(ATTACK, True)) == 1
    insp.feed(REPLY, False)
    assert len(insp.feed(ATTACK, True)) == 1


def test_post_body_scored_at_completion(model: AnomalyModel) -> None:
    body = b"username=admin%27%20OR%20%271%27%3D%271%27--%20&password=%3Cscript%3E"
    head = (b"POST /login HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body))
    insp = _detector(model).new_stream(FLOW)
    assert insp.feed(head, True) == []  # the head alone is normal
    assert insp.feed(body, True) == []  # no boundary in the body
    (alert,) = insp.feed(REPLY, False)  # the whole request is not
    assert alert.details["partial"] is False


def test_unknown_service_is_quiet(model: AnomalyModel) -> None:
    insp = _detector(model).new_stream(FlowInfo("ssh", "s2", "1.2.3.4", 1, "5.6.7.8", 22))
    assert insp.feed(ATTACK, True) == [] and insp.feed(REPLY, False) == []


def test_alert_policy_mapping(model: AnomalyModel) -> None:
    score = model.score(ATTACK)
    policy = AlertPolicy(base=50, cap=80)
    assert policy.alert_score(score) == pytest.approx(min(80, 50 * score.total / score.threshold))
    with pytest.raises(ValueError):
        AlertPolicy(base=0)
    with pytest.raises(ValueError):
        AlertPolicy(request_end=b"")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 300), max_size=12), st.integers(0, 10**6))
def test_completed_scores_equal_model_on_split_requests(model: AnomalyModel, cuts: list[int], seed: int) -> None:
    """The inspector's features match model.score() of the splitter's requests."""
    rng = random.Random(seed)
    reqs = [rng.choice(benign_http(5, seed)) if rng.random() < 0.7 else ATTACK for _ in range(3)]
    stream = b"".join(reqs)
    events = []
    pos = 0
    for c in cuts:
        events.append(("client", stream[pos:pos + c]))
        pos += c
    events.append(("client", stream[pos:]))
    insp = _detector(model, request_end=None).new_stream(FLOW)
    got = [a.details["distance"] for d, data in events for a in insp.feed(data, True)]
    got += [a.details["distance"] for a in insp.feed(REPLY, False)]
    (whole,) = split_stream([(d, x) for d, x in events] + [("server", REPLY)])  # type: ignore[misc]
    score = model.score(whole.data, whole.length)
    assert got == ([round(score.total, 4)] if score.anomalous else [])


def test_hostile_volume_is_bounded(model: AnomalyModel) -> None:
    """Megabytes without a server reply: state stays capped, one score per chunk at most."""
    insp = _detector(model, request_end=b"\n").new_stream(FLOW)
    chunk = (b"A" * 1000 + b"\n") * 64
    alerts = [a for _ in range(80) for a in insp.feed(chunk, True)]
    assert len(alerts) == 1  # the whole stream is one request: one alert
    state = insp._state  # type: ignore[attr-defined]
    assert state.features.captured == model.config.shape.cap and state.length == 80 * len(chunk)
    assert len(state.features._tail) <= model.config.shape.tail_len


def test_finish_scores_unanswered_request(model: AnomalyModel) -> None:
    insp = _detector(model, request_end=None).new_stream(FLOW)
    assert insp.feed(ATTACK, True) == []
    assert len(insp.finish()) == 1  # the stream ended without a reply
    assert insp.finish() == []
