"""The detector contract as one session sees it: an Inspection passes every call (feed and
finish) on to each detector, and one detector's exception never stops another's."""
from __future__ import annotations

import random

import pytest

from honeyswitch.core.session import Session, SessionPolicy
from honeyswitch.core.types import ConnectionLost, DataReceived, Emit, End, EofReceived, Opened
from honeyswitch.detect.anomaly import AlertPolicy, AnomalyDetector, AnomalyModel, fit
from honeyswitch.detect.base import FlowInfo, Inspection, StreamInspector
from honeyswitch.detect.signatures import SignatureDetector, parse_rules
from honeyswitch.testing.playbook import START, Playbook

FLOW = FlowInfo("web", "s1", "198.51.100.7", 40000, "192.0.2.5", 8080)
RULES = 'alert tcp any any -> any any (msg:"evil word"; content:"evil"; sid:1; rev:1;)'
ODD = bytes(range(256))  # nothing like the training requests


@pytest.fixture(scope="module")
def model() -> AnomalyModel:
    rng = random.Random(5)
    lines = [f"GET /item/{rng.randrange(1000)}?page={rng.randrange(9)}\n".encode() for _ in range(200)]
    return fit(lines, service="web")


def signatures() -> StreamInspector:
    return SignatureDetector(parse_rules(RULES), clock=lambda: 0.0).new_stream(FLOW)


def anomaly(model: AnomalyModel) -> StreamInspector:
    # No request boundary: a request is scored when the server replies, or at the end.
    return AnomalyDetector({"web": model}, {"web": AlertPolicy(request_end=None)}).new_stream(FLOW)


class Broken:
    """A detector with a bug: raises on the chunk that holds ``b"boom"``."""

    def __init__(self) -> None:
        self.calls = 0

    def feed(self, data: bytes, to_server: bool) -> list:
        self.calls += 1
        if b"boom" in data:
            raise RuntimeError("index out of range")
        return []

    def finish(self) -> list:
        raise AssertionError("a failed detector is not called again")


def test_finish_reaches_every_detector(model: AnomalyModel) -> None:
    errors: list[tuple[str, BaseException]] = []
    ins = Inspection([("signature", signatures()), ("anomaly", anomaly(model))], lambda n, e: errors.append((n, e)))
    assert [a.detector for a in ins.feed(b"evil " + ODD, True)] == ["signature"]
    # The odd request never got a reply: only the end of the session scores it.
    assert [a.detector for a in ins.finish()] == ["anomaly"]
    assert errors == []


def test_one_detector_failing_leaves_the_others_inspecting(model: AnomalyModel) -> None:
    errors: list[tuple[str, str]] = []
    broken = Broken()
    ins = Inspection([("broken", broken), ("signature", signatures()), ("anomaly", anomaly(model))],
                     lambda n, e: errors.append((n, str(e))))
    assert [a.detector for a in ins.feed(b"boom evil", True)] == ["signature"]
    assert errors == [("broken", "index out of range")]
    assert ins.names == ("signature", "anomaly")
    assert [a.detector for a in ins.feed(b" more evil", True)] == ["signature"]
    assert broken.calls == 1  # left out after its failure
    assert [a.detector for a in ins.finish()] == ["anomaly"]
    assert errors == [("broken", "index out of range")]  # reported once


def test_a_lone_failing_detector_is_reported_and_the_session_goes_on() -> None:
    errors: list[str] = []
    ins = Inspection([("broken", Broken())], lambda n, e: errors.append(n))
    pb = Playbook(Session(SessionPolicy(), inspector=ins), ignore_emits=True)
    pb.run(START, Opened(End.MAIN), Opened(End.HONEYPOT))
    out = pb.run(DataReceived(End.CLIENT, b"boom"))
    assert errors == ["broken"]
    assert [type(c).__name__ for c in out] == ["Send", "Send"]  # forwarded to main and honeypot
    assert ins.finish() == []


def test_the_session_core_scores_the_last_request_at_the_end(model: AnomalyModel) -> None:
    ins = Inspection([("signature", signatures()), ("anomaly", anomaly(model))], lambda n, e: None)
    session = Session(SessionPolicy(switch_threshold=1000), inspector=ins)
    pb = Playbook(session, ignore_emits=True)
    pb.run(START, Opened(End.MAIN), Opened(End.HONEYPOT), DataReceived(End.CLIENT, ODD))
    assert session.score == 0  # no reply yet: the request is still in progress
    out = pb.run(EofReceived(End.CLIENT), ConnectionLost(End.MAIN), ConnectionLost(End.HONEYPOT),
                 ConnectionLost(End.CLIENT))
    alerts = [c for c in out if isinstance(c, Emit) and c.event_type == "alert"]
    assert [a.fields["detector"] for a in alerts] == ["anomaly"]
    assert alerts[0].fields["session_score"] == session.score > 0
