"""The playbook helper itself: matching, loose Emit, ignored Emit, and its failure report."""
from __future__ import annotations

import pytest

from honeyswitch.core.session import Session, SessionPolicy
from honeyswitch.core.types import (
    Close,
    Command,
    Connect,
    DataReceived,
    Emit,
    End,
    Opened,
    PauseReading,
    ResumeReading,
    Send,
    SwitchRequested,
)
from honeyswitch.testing.playbook import START, Playbook, fmt, matches, sent, unchecked

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT


def started(*, ignore_emits: bool = False) -> Playbook:
    pb = Playbook(Session(SessionPolicy()), ignore_emits=ignore_emits)
    pb.run(START, Opened(MAIN), Opened(HONEYPOT))
    return pb


def test_a_matching_script_passes_and_can_be_extended() -> None:
    pb = Playbook(Session(SessionPolicy()))
    assert pb >> START << PauseReading(CLIENT) << Connect(MAIN) << Connect(HONEYPOT)
    assert pb >> Opened(MAIN) << ResumeReading(CLIENT)  # only the new step runs
    assert len(pb.commands()) == 4


def test_a_missing_command_fails_with_a_diff() -> None:
    pb = started() >> DataReceived(CLIENT, b"x") << Send(MAIN, b"x")
    with pytest.raises(AssertionError) as failure:
        assert pb
    report = str(failure.value)
    assert ">> DataReceived(CLIENT, b'x')" in report
    assert "  << Send(MAIN, b'x')" in report
    assert "+ << Send(HONEYPOT, b'x')" in report
    assert ">> Opened(MAIN)" in report  # the conversation so far


def test_an_unexpected_command_fails() -> None:
    pb = started() >> DataReceived(MAIN, b"x") << Send(CLIENT, b"x") << Send(CLIENT, b"y")
    with pytest.raises(AssertionError, match=r"- << Send\(CLIENT, b'y'\)"):
        assert pb


def test_order_matters() -> None:
    pb = started() >> DataReceived(CLIENT, b"x") << Send(HONEYPOT, b"x") << Send(MAIN, b"x")
    with pytest.raises(AssertionError):
        assert pb


def test_emit_matches_by_type_and_named_fields() -> None:
    actual = Emit("switch", {"by": "operator", "align": "bytes", "score": 0.0})
    assert matches(Emit("switch"), actual)
    assert matches(Emit("switch", {"by": "operator", "align": "bytes"}), actual)
    assert not matches(Emit("switch", {"by": "signal"}), actual)
    assert not matches(Emit("switch", {"missing": None}), actual)
    assert not matches(Emit("switch_done"), actual)
    assert not matches(Send(CLIENT, b""), actual)


def test_emits_must_be_expected_unless_ignored() -> None:
    with pytest.raises(AssertionError, match=r"\+ << Emit\('switch'"):
        assert started() >> SwitchRequested("operator") << Close(MAIN, reset=True)
    assert (
        started(ignore_emits=True)
        >> SwitchRequested("operator")
        << Close(MAIN, reset=True)
    )


def test_ignored_emits_can_still_be_expected() -> None:
    assert (
        started(ignore_emits=True)
        >> SwitchRequested("operator")
        << Close(MAIN, reset=True)
        << Emit("switch_done")
    )
    with pytest.raises(AssertionError, match=r"- << Emit\('nothing_like_it'\)"):
        assert started(ignore_emits=True) >> SwitchRequested("x") << Emit("nothing_like_it")


def test_expecting_without_an_event_is_an_error() -> None:
    pb = started()
    with pytest.raises(ValueError):
        pb << Send(CLIENT, b"x")


def test_sent_joins_the_bytes_for_one_end() -> None:
    cmds: list[Command] = [Send(CLIENT, b"a"), Send(MAIN, b"b"), Close(CLIENT), Send(CLIENT, b"c")]
    assert sent(cmds, CLIENT) == b"ac"
    assert sent(cmds, HONEYPOT) == b""


def test_fmt_is_short() -> None:
    assert fmt(Close(CLIENT)) == "Close(CLIENT)"
    assert fmt(Close(CLIENT, reset=True)) == "Close(CLIENT, reset=True)"
    assert fmt(Emit("alert", {"score": 5})) == "Emit('alert', score=5)"
    assert fmt(START) == "START"


def test_a_script_never_asserted_is_reported() -> None:
    unchecked()  # forget the playbooks made so far in this test
    pb = started() >> DataReceived(CLIENT, b"x") << Send(MAIN, b"x")
    assert unchecked() == [">> DataReceived(CLIENT, b'x')", "<< Send(MAIN, b'x')"]
    assert pb.pending()  # still unrun; but forgotten, so this test's own check passes
    assert unchecked() == []
