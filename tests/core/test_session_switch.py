"""Switching a live session to the honeypot: requests, alerts and inline inspection,
bytes and quiet alignment, and switching without a honeypot."""
from __future__ import annotations

from collections.abc import Sequence

from honeyswitch.core.session import DEADLINE_TIMER, QUIET_TIMER, Session, SessionPolicy
from honeyswitch.core.types import (
    AlertRaised,
    Align,
    CancelTimer,
    Close,
    ConnectionLost,
    DataReceived,
    Emit,
    End,
    EofReceived,
    NoHoneypotPolicy,
    Opened,
    OpenFailed,
    PauseReading,
    ResumeReading,
    Send,
    SetTimer,
    Shutdown,
    State,
    SwitchRequested,
    TimerFired,
    WritePaused,
)
from honeyswitch.detect.base import Alert
from honeyswitch.testing.playbook import START, Playbook, sent

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
QUIET = SessionPolicy(align=Align.QUIET, quiet_time=0.2, quiet_max=3.0)


class MarkerInspector:
    """A fake inline detector: every chunk holding a marker raises that marker's score."""

    def __init__(self, markers: dict[bytes, float]) -> None:
        self.markers = markers
        self.fed: list[tuple[bool, bytes]] = []

    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        self.fed.append((to_server, data))
        return [
            Alert(score, "fake", f"saw {marker.decode()}", {"to_server": to_server})
            for marker, score in self.markers.items()
            if marker in data
        ]

    def stream(self, to_server: bool) -> bytes:
        return b"".join(data for direction, data in self.fed if direction is to_server)


def mirror(
    policy: SessionPolicy | None = None, inspector: MarkerInspector | None = None
) -> Playbook:
    pb = Playbook(Session(policy or SessionPolicy(), inspector=inspector))
    pb.run(START, Opened(MAIN), Opened(HONEYPOT))
    return pb


def switching(inspector: MarkerInspector | None = None) -> Playbook:
    pb = mirror(QUIET, inspector)
    pb.run(SwitchRequested("operator"))
    assert pb.session.state is State.SWITCHING
    return pb


# ------------------------------------------------------------------ requests


def test_switch_requested_twice_switches_once() -> None:
    pb = mirror()
    assert (
        pb
        >> SwitchRequested("operator", "looks bad")
        << Emit("switch", {"by": "operator", "reason": "looks bad", "align": "bytes"})
        << Close(MAIN, reset=True)
        << Emit("switch_done", {"main_bytes_to_client": 0, "honeypot_bytes": 0})
        >> SwitchRequested("signal")
    )
    assert pb.session.switched_by == "operator"
    assert pb.session.reached_honeypot
    assert pb.session.serving is HONEYPOT


def test_switch_while_switching_is_a_no_op() -> None:
    assert (
        switching()
        >> SwitchRequested("signal")
        >> AlertRaised(1000, "ids", "again")
        << Emit("alert", {"session_score": 1000})
    )


def test_switch_in_direct_is_a_no_op() -> None:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    pb.run(START, Opened(HONEYPOT))
    assert pb >> SwitchRequested("operator")
    assert pb.session.state is State.DIRECT
    assert pb.session.switched_by is None


def test_switch_in_main_only_with_reset_policy_resets_the_client() -> None:
    pb = mirror(SessionPolicy(no_honeypot=NoHoneypotPolicy.RESET))
    pb.run(ConnectionLost(HONEYPOT, reset=True))
    assert (
        pb
        >> SwitchRequested("operator", "attack")
        << Emit("switch_unavailable", {"by": "operator", "policy": "reset"})
        << Close(MAIN, reset=True)
        << Close(CLIENT, reset=True)
    )
    assert pb.session.state is State.CLOSED
    assert pb.session.close_reason == "switch without honeypot"


def test_switch_in_main_only_with_pass_policy_keeps_serving() -> None:
    pb = mirror(SessionPolicy(no_honeypot=NoHoneypotPolicy.PASS))
    pb.run(ConnectionLost(HONEYPOT, reset=True))
    assert (
        pb
        >> SwitchRequested("operator")
        << Emit("switch_unavailable", {"policy": "pass"})
        >> DataReceived(CLIENT, b"x")
        << Send(MAIN, b"x")
    )
    assert pb.session.state is State.MAIN_ONLY
    assert not pb.session.reached_honeypot


def test_switch_before_main_is_up_serves_from_the_honeypot() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START)
    assert (
        pb
        >> SwitchRequested("blacklist")
        << Emit("switch")
        << Close(MAIN, reset=True)
        << Emit("switch_done")
        >> Opened(HONEYPOT)
        << ResumeReading(CLIENT)
    )


def test_switch_when_only_the_honeypot_is_up_reads_the_client() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(HONEYPOT))
    assert (
        pb
        >> SwitchRequested("blacklist")
        << Emit("switch")
        << Close(MAIN, reset=True)
        << ResumeReading(CLIENT)
        << Emit("switch_done")
    )


def test_switch_before_the_honeypot_is_up_queues_then_pauses_the_client() -> None:
    pb = Playbook(Session(SessionPolicy(honeypot_buffer=4)))
    pb.run(START, Opened(MAIN), SwitchRequested("operator"))
    assert (
        pb
        >> DataReceived(CLIENT, b"abc")
        >> DataReceived(CLIENT, b"de")
        << PauseReading(CLIENT)
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"abc") << Send(HONEYPOT, b"de") << ResumeReading(CLIENT)
    )
    assert pb.session.state is State.HONEYPOT


# --------------------------------------------------------------- alerts, inline


def test_alerts_accumulate_until_the_threshold_switches() -> None:
    pb = mirror(SessionPolicy(switch_threshold=100))
    assert (
        pb
        >> AlertRaised(40, "suricata", "ET SCAN")
        << Emit("alert", {"detector": "suricata", "score": 40, "session_score": 40})
        >> AlertRaised(60, "snort", "shellcode")
        << Emit("alert", {"detector": "snort", "score": 60, "session_score": 100})
        << Emit("switch", {"by": "detector:snort", "reason": "shellcode", "score": 100})
        << Close(MAIN, reset=True)
        << Emit("switch_done")
        >> AlertRaised(5, "snort", "more")
        << Emit("alert", {"session_score": 105})
    )
    assert pb.session.score == 105


def test_alerts_in_main_only_apply_the_no_honeypot_policy() -> None:
    pb = mirror(SessionPolicy(switch_threshold=10, no_honeypot=NoHoneypotPolicy.PASS))
    pb.run(WritePaused(HONEYPOT))
    assert (
        pb
        >> AlertRaised(20, "ids", "x")
        << Emit("alert")
        << Emit("switch_unavailable", {"by": "detector:ids", "policy": "pass"})
    )


def test_client_chunk_crossing_the_threshold_goes_to_the_honeypot_only() -> None:
    inspector = MarkerInspector({b"EVIL": 10})
    pb = mirror(SessionPolicy(switch_threshold=10), inspector=inspector)
    assert (
        pb
        >> DataReceived(CLIENT, b"GET / ")
        << Send(MAIN, b"GET / ") << Send(HONEYPOT, b"GET / ")
        >> DataReceived(CLIENT, b"EVIL")
        << Emit("alert", {"detector": "fake", "reason": "saw EVIL", "to_server": True})
        << Emit("switch", {"by": "detector:fake"})
        << Close(MAIN, reset=True)
        << Emit("switch_done")
        << Send(HONEYPOT, b"EVIL")
    )
    assert inspector.stream(True) == b"GET / EVIL"


def test_client_chunk_crossing_the_threshold_is_held_in_a_quiet_switch() -> None:
    inspector = MarkerInspector({b"EVIL": 10})
    pb = mirror(SessionPolicy(align=Align.QUIET, switch_threshold=10), inspector=inspector)
    assert (
        pb
        >> DataReceived(CLIENT, b"EVIL")
        << Emit("alert")
        << Emit("switch", {"align": "quiet"})
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"EVIL")
        << Emit("switch_done")
    )


def test_below_threshold_alerts_are_forwarded_as_usual() -> None:
    inspector = MarkerInspector({b"odd": 1})
    assert (
        mirror(inspector=inspector)
        >> DataReceived(CLIENT, b"odd")
        << Emit("alert", {"session_score": 1})
        << Send(MAIN, b"odd") << Send(HONEYPOT, b"odd")
    )


def test_main_reply_crossing_the_threshold_is_replaced_by_the_honeypots() -> None:
    inspector = MarkerInspector({b"SECRET": 100})
    pb = mirror(inspector=inspector)
    assert (
        pb
        >> DataReceived(MAIN, b"hello ")
        << Send(CLIENT, b"hello ")
        >> DataReceived(HONEYPOT, b"hello decoy!")
        >> DataReceived(MAIN, b"SECRET")
        << Emit("alert", {"to_server": False})
        << Emit("switch", {"main_bytes_to_client": 6, "honeypot_bytes": 12})
        << Close(MAIN, reset=True)
        << Send(CLIENT, b"decoy!")
        << Emit("switch_done")
    )
    assert pb.session.main_sent == 6


def test_main_reply_crossing_the_threshold_waits_for_a_slow_honeypot() -> None:
    inspector = MarkerInspector({b"SECRET": 100})
    assert (
        mirror(inspector=inspector)
        >> DataReceived(MAIN, b"SECRET")
        << Emit("alert")
        << Emit("switch")
        << Close(MAIN, reset=True)
        << Emit("switch_done")
        >> DataReceived(HONEYPOT, b"decoy!")
        << Send(CLIENT, b"decoy!")
    )


def test_inspector_sees_what_the_client_sees_across_a_bytes_switch() -> None:
    inspector = MarkerInspector({})
    pb = mirror(inspector=inspector)
    pb.run(
        DataReceived(MAIN, b"0123"),
        DataReceived(HONEYPOT, b"012345"),
        SwitchRequested("operator"),
        DataReceived(HONEYPOT, b"6789"),
    )
    assert inspector.stream(False) == b"0123456789"
    pb = mirror(inspector=(inspector := MarkerInspector({})))
    pb.run(
        DataReceived(MAIN, b"012345"),
        DataReceived(HONEYPOT, b"01"),
        SwitchRequested("operator"),
        DataReceived(HONEYPOT, b"23456789"),
    )
    assert inspector.stream(False) == b"0123456789"


def test_inspector_sees_each_position_once_when_main_triggered_the_switch() -> None:
    inspector = MarkerInspector({b"SECRET": 100})
    pb = mirror(inspector=inspector)
    pb.run(
        DataReceived(MAIN, b"abc"),
        DataReceived(HONEYPOT, b"abcDECOY"),
        DataReceived(MAIN, b"SECRET"),  # switch: the client gets b"DECOY" and what follows
        DataReceived(HONEYPOT, b"! more"),
    )
    assert sent(pb.commands(), CLIENT) == b"abcDECOY! more"
    # Positions 3..9 were inspected as main's bytes; the honeypot's are not fed again.
    assert inspector.stream(False) == b"abcSECRET more"


def test_inspector_after_a_quiet_switch_skips_the_discarded_honeypot_output() -> None:
    inspector = MarkerInspector({})
    pb = mirror(QUIET, inspector)
    pb.run(
        DataReceived(MAIN, b"main "),
        DataReceived(HONEYPOT, b"discarded"),
        SwitchRequested("operator"),
        DataReceived(MAIN, b"drained "),
        DataReceived(HONEYPOT, b"also discarded"),
        TimerFired(QUIET_TIMER),
        DataReceived(HONEYPOT, b"honeypot"),
    )
    assert sent(pb.commands(), CLIENT) == b"main drained honeypot"
    assert inspector.stream(False) == b"main drained honeypot"


def test_direct_inspects_both_directions_without_switching() -> None:
    inspector = MarkerInspector({b"X": 1000})
    pb = Playbook(Session(SessionPolicy(), direct=True, inspector=inspector))
    pb.run(START, Opened(HONEYPOT))
    assert (
        pb
        >> DataReceived(HONEYPOT, b"X")
        << Emit("alert")
        << Send(CLIENT, b"X")
        >> DataReceived(CLIENT, b"X")
        << Emit("alert")
        << Send(HONEYPOT, b"X")
    )
    assert inspector.fed == [(False, b"X"), (True, b"X")]


# ------------------------------------------------------------ bytes alignment


def test_bytes_honeypot_ahead_forwards_from_mains_position() -> None:
    pb = mirror()
    assert (
        pb
        >> DataReceived(HONEYPOT, b"HELLO WORLD")
        >> DataReceived(MAIN, b"HELLO")
        << Send(CLIENT, b"HELLO")
        >> SwitchRequested("operator")
        << Emit("switch", {"main_bytes_to_client": 5, "honeypot_bytes": 11})
        << Close(MAIN, reset=True)
        << Send(CLIENT, b" WORLD")
        << Emit("switch_done")
        >> DataReceived(HONEYPOT, b"!")
        << Send(CLIENT, b"!")
        >> DataReceived(CLIENT, b"next")
        << Send(HONEYPOT, b"next")
    )


def test_bytes_switch_waits_for_a_honeypot_behind_to_catch_up() -> None:
    # Its copy of the client's bytes may have been batched: the switch holds the client,
    # stops reading main, and hands over once the honeypot's output has reached main's
    # position and matched it on the way.
    assert (
        mirror()
        >> DataReceived(MAIN, b"HELLO WORLD")
        << Send(CLIENT, b"HELLO WORLD")
        >> DataReceived(HONEYPOT, b"HEL")
        >> SwitchRequested("operator")
        << Emit("switch", {"align": "bytes", "main_bytes_to_client": 11, "honeypot_bytes": 3})
        << PauseReading(MAIN)
        << SetTimer(DEADLINE_TIMER, 3.0)
        >> DataReceived(CLIENT, b"more")  # held
        >> DataReceived(HONEYPOT, b"LO")
        >> DataReceived(HONEYPOT, b" WORLD!")
        << Close(MAIN, reset=True)
        << Send(CLIENT, b"!")
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"more")
        << Emit("switch_done")
        >> DataReceived(HONEYPOT, b"?")
        << Send(CLIENT, b"?")
    )


def test_a_catch_up_that_finds_a_difference_becomes_a_quiet_switch() -> None:
    assert (
        mirror()
        >> DataReceived(MAIN, b"HELLO WORLD")
        << Send(CLIENT, b"HELLO WORLD")
        >> SwitchRequested("operator")
        << Emit("switch", {"align": "bytes"})
        << PauseReading(MAIN)
        << SetTimer(DEADLINE_TIMER, 3.0)
        >> DataReceived(HONEYPOT, b"HELLO THERE")
        << Emit("divergence", {"position": 6})
        << ResumeReading(MAIN)  # main finishes its reply
        << SetTimer(QUIET_TIMER, 0.2)
        >> DataReceived(MAIN, b"!")
        << Send(CLIENT, b"!")
        << SetTimer(QUIET_TIMER, 0.2)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
        >> DataReceived(HONEYPOT, b"?")
        << Send(CLIENT, b"?")
    )


def test_a_catch_up_ends_at_the_deadline_skipping_what_main_said() -> None:
    assert (
        mirror()
        >> DataReceived(MAIN, b"HELLO WORLD")
        << Send(CLIENT, b"HELLO WORLD")
        >> SwitchRequested("operator")
        << Emit("switch")
        << PauseReading(MAIN)
        << SetTimer(DEADLINE_TIMER, 3.0)
        >> TimerFired(QUIET_TIMER)  # not a quiet switch: nothing
        >> TimerFired(DEADLINE_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
        >> DataReceived(HONEYPOT, b"HELLO")
        >> DataReceived(HONEYPOT, b" WORLD!")
        << Send(CLIENT, b"!")
    )


def test_a_catch_up_ends_when_the_honeypot_is_lost() -> None:
    pb = mirror(SessionPolicy(no_honeypot=NoHoneypotPolicy.PASS))
    pb.run(DataReceived(MAIN, b"HELLO"), SwitchRequested("operator"), DataReceived(CLIENT, b"held"))
    assert (
        pb
        >> ConnectionLost(HONEYPOT, reset=True)
        << Emit("backend_failure", {"end": "honeypot"})
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << ResumeReading(MAIN)
        << Send(MAIN, b"held")
    )
    assert pb.session.state is State.MAIN_ONLY


def test_bytes_equal_positions_hand_over_cleanly() -> None:
    assert (
        mirror()
        >> DataReceived(MAIN, b"abc")
        << Send(CLIENT, b"abc")
        >> DataReceived(HONEYPOT, b"abc")
        >> SwitchRequested("operator")
        << Emit("switch")
        << Close(MAIN, reset=True)
        << Emit("switch_done")
        >> DataReceived(HONEYPOT, b"d")
        << Send(CLIENT, b"d")
    )


def test_bytes_ahead_spanning_several_chunks_is_trimmed_as_main_advances() -> None:
    pb = mirror()
    pb.run(
        DataReceived(HONEYPOT, b"abc"),
        DataReceived(HONEYPOT, b"def"),
        DataReceived(HONEYPOT, b"ghi"),
        DataReceived(MAIN, b"abcd"),
        DataReceived(MAIN, b"e"),
    )
    assert (
        pb
        >> SwitchRequested("operator")
        << Emit("switch", {"main_bytes_to_client": 5, "honeypot_bytes": 9})
        << Close(MAIN, reset=True)
        << Send(CLIENT, b"fghi")
        << Emit("switch_done")
    )


def test_bytes_main_overtaking_the_honeypot_then_falling_behind_again() -> None:
    pb = mirror()
    pb.run(
        DataReceived(HONEYPOT, b"ab"),
        DataReceived(MAIN, b"abcd"),
        DataReceived(HONEYPOT, b"cdef"),
    )
    assert (
        pb
        >> SwitchRequested("operator")
        << Emit("switch")
        << Close(MAIN, reset=True)
        << Send(CLIENT, b"ef")
        << Emit("switch_done")
    )


def test_bytes_ahead_up_to_the_buffer_still_aligns() -> None:
    pb = mirror(SessionPolicy(honeypot_buffer=4))
    pb.run(DataReceived(HONEYPOT, b"12"), DataReceived(HONEYPOT, b"34"))
    assert (
        pb
        >> SwitchRequested("operator")
        << Emit("switch", {"align": "bytes"})
        << Close(MAIN, reset=True)
        << Send(CLIENT, b"1234")
        << Emit("switch_done")
    )


def test_bytes_ahead_beyond_the_buffer_falls_back_to_quiet() -> None:
    pb = mirror(SessionPolicy(honeypot_buffer=4, quiet_time=0.5, quiet_max=2.0))
    pb.run(DataReceived(HONEYPOT, b"123"), DataReceived(HONEYPOT, b"45"))
    assert (
        pb
        >> DataReceived(MAIN, b"12345")  # main catching up does not undo it
        << Send(CLIENT, b"12345")
        >> SwitchRequested("operator")
        << Emit("switch", {"align": "quiet"})
        << SetTimer(QUIET_TIMER, 0.5) << SetTimer(DEADLINE_TIMER, 2.0)
    )
    assert pb.session.state is State.SWITCHING


def test_bytes_switch_passes_an_earlier_client_eof_and_honeypot_eof() -> None:
    assert (
        mirror()
        >> EofReceived(CLIENT)
        << Shutdown(MAIN) << Shutdown(HONEYPOT)
        >> DataReceived(HONEYPOT, b"bye")
        >> EofReceived(HONEYPOT)
        >> SwitchRequested("operator")
        << Emit("switch")
        << Close(MAIN, reset=True)
        << Send(CLIENT, b"bye")
        << Emit("switch_done")
        << Shutdown(CLIENT)
        << Close(HONEYPOT) << Close(CLIENT)
    )


def test_bytes_switch_to_a_shorter_honeypot_that_ended_ends_the_client_too() -> None:
    assert (
        mirror()
        >> DataReceived(MAIN, b"long reply")
        << Send(CLIENT, b"long reply")
        >> DataReceived(HONEYPOT, b"long")  # the same reply, cut short
        >> EofReceived(HONEYPOT)
        >> SwitchRequested("operator")
        << Emit("switch")
        << Close(MAIN, reset=True)
        << Emit("switch_done")
        << Shutdown(CLIENT)
    )


def test_honeypot_eof_while_catching_up_is_passed_to_the_client() -> None:
    assert (
        mirror()
        >> DataReceived(MAIN, b"long reply")
        << Send(CLIENT, b"long reply")
        >> SwitchRequested("operator")
        << Emit("switch")
        << PauseReading(MAIN)
        << SetTimer(DEADLINE_TIMER, 3.0)
        >> DataReceived(HONEYPOT, b"long")
        >> EofReceived(HONEYPOT)  # ended short of main: it will say no more
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
        << Shutdown(CLIENT)
    )


def test_honeypot_eof_while_skipping_is_passed_to_the_client() -> None:
    # The honeypot not connected yet at the switch: nothing to catch up with, it skips.
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(MAIN), DataReceived(MAIN, b"long reply"), SwitchRequested("operator"))
    assert (
        pb
        >> Opened(HONEYPOT)
        >> DataReceived(HONEYPOT, b"long")
        >> EofReceived(HONEYPOT)
        << Shutdown(CLIENT)
    )


# ------------------------------------------------------------ quiet alignment


def test_quiet_switch_holds_client_drains_main_discards_honeypot() -> None:
    pb = mirror(QUIET)
    assert (
        pb
        >> DataReceived(HONEYPOT, b"hp said")
        >> SwitchRequested("operator")
        << Emit("switch", {"align": "quiet"})
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        >> DataReceived(CLIENT, b"held ")
        >> DataReceived(MAIN, b"end of reply")
        << Send(CLIENT, b"end of reply")
        << SetTimer(QUIET_TIMER, 0.2)
        >> DataReceived(HONEYPOT, b"discarded")
        << SetTimer(QUIET_TIMER, 0.2)
        >> DataReceived(CLIENT, b"bytes")
        >> TimerFired("unrelated")
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"held ") << Send(HONEYPOT, b"bytes")
        << Emit("switch_done", {"main_bytes_to_client": 12, "honeypot_bytes": 16})
        >> DataReceived(HONEYPOT, b"new reply")
        << Send(CLIENT, b"new reply")
        >> DataReceived(CLIENT, b"direct")
        << Send(HONEYPOT, b"direct")
    )
    assert pb.session.state is State.HONEYPOT


def test_quiet_deadline_cuts_over_even_if_never_quiet() -> None:
    assert (
        switching()
        >> DataReceived(MAIN, b"stream")
        << Send(CLIENT, b"stream")
        << SetTimer(QUIET_TIMER, 0.2)
        >> TimerFired(DEADLINE_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
    )


def test_quiet_waits_for_a_late_honeypot_to_say_its_first_words() -> None:
    # An exec: honeypot still starting has said nothing though main has: its silence
    # is lateness, and its greeting must not reach a client that already had main's.
    pb = mirror(QUIET)
    pb.run(DataReceived(MAIN, b"220 ready\r\n"), DataReceived(CLIENT, b"HELO x\r\n"))
    assert (
        pb
        >> SwitchRequested("operator")
        << Emit("switch")
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        >> TimerFired(QUIET_TIMER)
        >> DataReceived(HONEYPOT, b"220 ready\r\n250 hi\r\n")
        << SetTimer(QUIET_TIMER, 0.2)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
    )


def test_quiet_deadline_cuts_over_from_a_honeypot_that_never_speaks() -> None:
    pb = mirror(QUIET)
    pb.run(DataReceived(MAIN, b"220 ready\r\n"), SwitchRequested("operator"))
    assert (
        pb
        >> TimerFired(QUIET_TIMER)
        >> TimerFired(DEADLINE_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
    )


def test_quiet_main_eof_during_drain_completes_the_switch() -> None:
    pb = switching()
    assert (
        pb
        >> DataReceived(CLIENT, b"held")
        >> EofReceived(MAIN)  # not passed on: the honeypot now serves the client
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"held")
        << Emit("switch_done")
        >> TimerFired(QUIET_TIMER)  # a stale timer
    )
    assert pb.session.state is State.HONEYPOT


def test_quiet_switch_completed_by_mains_eof_can_end_the_session() -> None:
    pb = switching()
    assert (
        pb
        >> EofReceived(CLIENT)
        >> EofReceived(HONEYPOT)
        >> EofReceived(MAIN)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
        << Shutdown(HONEYPOT) << Shutdown(CLIENT)
        << Close(HONEYPOT) << Close(CLIENT)
    )
    assert pb.session.state is State.CLOSED


def test_quiet_main_lost_during_drain_completes_the_switch() -> None:
    assert (
        switching()
        >> ConnectionLost(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
    )


def test_quiet_hold_limit_pauses_the_client_until_the_cut_over() -> None:
    pb = mirror(SessionPolicy(align=Align.QUIET, hold_limit=4))
    pb.run(SwitchRequested("operator"))
    assert (
        pb
        >> DataReceived(CLIENT, b"abc")
        >> DataReceived(CLIENT, b"de")
        << PauseReading(CLIENT)
        >> DataReceived(CLIENT, b"f")  # already in flight when paused
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"abc") << Send(HONEYPOT, b"de") << Send(HONEYPOT, b"f")
        << ResumeReading(CLIENT)
        << Emit("switch_done")
    )


def test_quiet_client_eof_is_passed_to_the_honeypot_after_held_bytes() -> None:
    assert (
        switching()
        >> DataReceived(CLIENT, b"last")
        >> EofReceived(CLIENT)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"last")
        << Emit("switch_done")
        << Shutdown(HONEYPOT)
    )


def test_quiet_honeypot_eof_during_drain_reaches_the_client_after_cut_over() -> None:
    assert (
        switching()
        >> DataReceived(HONEYPOT, b"bye")
        << SetTimer(QUIET_TIMER, 0.2)
        >> EofReceived(HONEYPOT)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
        << Shutdown(CLIENT)
    )


def test_quiet_switch_ends_if_the_client_is_already_done() -> None:
    pb = mirror(QUIET)
    pb.run(EofReceived(MAIN), SwitchRequested("operator"))
    assert (
        pb
        >> EofReceived(CLIENT)
        << Close(MAIN) << Close(HONEYPOT) << Close(CLIENT)
    )


def test_quiet_honeypot_lost_during_drain_with_pass_policy_returns_to_main() -> None:
    pb = mirror(SessionPolicy(align=Align.QUIET, hold_limit=2, no_honeypot=NoHoneypotPolicy.PASS))
    pb.run(SwitchRequested("operator"))
    assert (
        pb
        >> DataReceived(CLIENT, b"held")
        << PauseReading(CLIENT)
        >> EofReceived(CLIENT)
        >> ConnectionLost(HONEYPOT, reset=True)
        << Emit("backend_failure", {"end": "honeypot"})
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(MAIN, b"held")
        << ResumeReading(CLIENT)
        << Shutdown(MAIN)
        >> DataReceived(MAIN, b"reply")
        << Send(CLIENT, b"reply")
    )
    assert pb.session.state is State.MAIN_ONLY
    assert pb.session.switched_by is None


def test_quiet_honeypot_unreachable_during_drain_with_reset_policy() -> None:
    pb = Playbook(Session(QUIET))
    pb.run(START, Opened(MAIN), SwitchRequested("operator"))
    assert (
        pb
        >> OpenFailed(HONEYPOT, "refused")
        << Emit("backend_failure", {"end": "honeypot"})
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_unavailable", {"by": "abort", "policy": "reset"})
        << Close(MAIN, reset=True)
        << Close(CLIENT, reset=True)
    )
    assert pb.session.state is State.CLOSED


def test_quiet_main_unreachable_during_switch_hands_over_to_the_honeypot() -> None:
    pb = Playbook(Session(QUIET))
    pb.run(START, Opened(HONEYPOT), SwitchRequested("operator"))
    assert (
        pb
        >> OpenFailed(MAIN, "refused")
        << ResumeReading(CLIENT)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
    )
    assert pb.session.state is State.HONEYPOT


def test_quiet_main_reply_crossing_the_threshold_is_still_forwarded() -> None:
    # Quiet alignment discards the honeypot's version of the reply in progress, so
    # holding main's chunk back would tear it; see the design note in the report.
    inspector = MarkerInspector({b"SECRET": 100})
    assert (
        mirror(QUIET, inspector=inspector)
        >> DataReceived(MAIN, b"SECRET")
        << Emit("alert")
        << Emit("switch", {"align": "quiet"})
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        << Send(CLIENT, b"SECRET")
        << SetTimer(QUIET_TIMER, 0.2)
    )


def test_quiet_drain_is_inspected_too() -> None:
    inspector = MarkerInspector({b"X": 1})
    assert (
        switching(inspector)
        >> DataReceived(MAIN, b"X")
        << Emit("alert")
        << Send(CLIENT, b"X")
        << SetTimer(QUIET_TIMER, 0.2)
    )



def test_quiet_waits_for_the_replies_a_lagging_honeypot_still_owes() -> None:
    # The honeypot greeted but has not answered the request main already answered:
    # a quiet moment is not the end of its turn.
    pb = mirror(QUIET)
    pb.run(
        DataReceived(MAIN, b"+OK ready\n"),
        DataReceived(HONEYPOT, b"+OK ready\n"),
        DataReceived(CLIENT, b"GET a\n"),
        DataReceived(MAIN, b"VALUE 1\n"),
    )
    assert (
        pb
        >> SwitchRequested("operator")
        << Emit("switch")
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        >> DataReceived(CLIENT, b"GET b\n")
        >> TimerFired(QUIET_TIMER)  # still owes the reply to "GET a": keeps waiting
        >> DataReceived(HONEYPOT, b"VALUE fake\n")
        << SetTimer(QUIET_TIMER, 0.2)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"GET b\n")
        << Emit("switch_done")
        >> DataReceived(HONEYPOT, b"VALUE fake-b\n")
        << Send(CLIENT, b"VALUE fake-b\n")
    )


def test_quiet_counts_each_paused_answer_of_a_backlogged_honeypot_as_a_turn() -> None:
    # Three requests went out before the lagging honeypot answered the first; its
    # answers come 50 ms apart (well over quiet_time / 10), one turn each.
    pb = mirror(QUIET)
    for i in range(3):
        pb.run(DataReceived(CLIENT, b"REQ %d\n" % i, 1.0 + i), DataReceived(MAIN, b"r%d\n" % i, 1.0 + i))
    pb.run(SwitchRequested("operator"))
    replies = pb.session.replies
    assert (replies.main_turns, replies.honeypot_turns) == (3, 0)
    pb.run(DataReceived(HONEYPOT, b"h0\n", 5.00), DataReceived(HONEYPOT, b"h1\n", 5.05))
    assert replies.honeypot_turns == 2
    pb.run(DataReceived(HONEYPOT, b"rest of h1\n", 5.051))  # same answer, no pause
    assert replies.honeypot_turns == 2
    assert (
        pb
        >> TimerFired(QUIET_TIMER)  # owes one more
        >> DataReceived(HONEYPOT, b"h2\n", 5.10)
        << SetTimer(QUIET_TIMER, 0.2)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
    )


def test_compared_replies_count_turns_by_position_however_late_and_merged() -> None:
    # The relay batches the honeypot's copy while the streams are compared: its three
    # answers come at once, late, in one chunk.  They are three turns, so when a later
    # reply differs and the switch falls back to quiet, nothing is owed.
    pb = mirror()
    assert pb.session.defer_honeypot
    for i in range(3):
        pb.run(DataReceived(CLIENT, b"REQ %d\n" % i, 1.0 + i), DataReceived(MAIN, b"r%d\n" % i, 1.0 + i))
    pb.run(DataReceived(HONEYPOT, b"r0\nr1\nr2\n", 9.0))
    replies = pb.session.replies
    assert (replies.main_turns, replies.honeypot_turns) == (3, 3)
    pb.run(DataReceived(CLIENT, b"REQ 3\n", 10.0), DataReceived(MAIN, b"r3\n", 10.0))
    assert (
        pb
        >> DataReceived(HONEYPOT, b"X3\n", 10.0)
        << Emit("divergence", {"position": 9})
    )
    assert replies.honeypot_turns == 4 and not replies.by_position and not pb.session.defer_honeypot
    assert (
        pb
        >> SwitchRequested("operator")
        << Emit("switch", {"align": "quiet"})
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        >> TimerFired(QUIET_TIMER)  # owes nothing: cut over now, not at the deadline
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Emit("switch_done")
    )


def test_a_honeypot_ahead_has_taken_main_turns_when_they_come() -> None:
    pb = mirror()
    pb.run(DataReceived(CLIENT, b"GET a\n"), DataReceived(HONEYPOT, b"VALUE 1\n"))
    replies = pb.session.replies
    assert (replies.main_turns, replies.honeypot_turns) == (0, 0)
    pb.run(DataReceived(MAIN, b"VALUE 1\n"))
    assert (replies.main_turns, replies.honeypot_turns) == (1, 1)


def test_quiet_alignment_never_defers_the_honeypot() -> None:
    # Without byte comparison its turns are read from timing: its copy goes out at once.
    pb = mirror(QUIET)
    assert not pb.session.defer_honeypot
    pb.run(SwitchRequested("operator"))
    assert not pb.session.defer_honeypot


def test_divergent_replies_make_a_bytes_switch_quiet() -> None:
    pb = mirror()
    assert (
        pb
        >> DataReceived(CLIENT, b"GET a\n")
        << Send(MAIN, b"GET a\n") << Send(HONEYPOT, b"GET a\n")
        >> DataReceived(MAIN, b"VALUE real\n")
        << Send(CLIENT, b"VALUE real\n")
        >> DataReceived(HONEYPOT, b"VALUE fake\n")
        << Emit("divergence", {"position": 6, "main_excerpt": "real\\n", "honeypot_excerpt": "fake\\n"})
        >> DataReceived(MAIN, b"more")  # compared no further: one event per session
        << Send(CLIENT, b"more")
        >> SwitchRequested("operator")
        << Emit("switch", {"align": "quiet"})
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
    )


# ------------------------------------------------------------ source score


def _with_source(score: list[float], policy: SessionPolicy | None = None,
                 inspector: MarkerInspector | None = None) -> Playbook:
    pb = Playbook(Session(policy or SessionPolicy(switch_threshold=100), inspector=inspector,
                          source_score=lambda: score[0], source_threshold=100))
    pb.run(START, Opened(MAIN), Opened(HONEYPOT))
    return pb


def test_a_request_that_carries_its_source_over_the_threshold_goes_to_the_honeypot() -> None:
    # One connection per request: this session's own score stays at 60, but its source
    # already has 50 from earlier sessions; 50 + 60 >= 100.
    inspector = MarkerInspector({b"' OR 1=1": 60})
    pb = _with_source([50.0], inspector=inspector)
    assert (
        pb
        >> DataReceived(CLIENT, b"GET /?id=' OR 1=1")
        << Emit("alert", {"session_score": 60})
        << Emit("switch", {"by": "detector:fake", "reason": "source score 110: saw ' OR 1=1", "score": 60})
        << Close(MAIN, reset=True)
        << Emit("switch_done")
        << Send(HONEYPOT, b"GET /?id=' OR 1=1")
    )


def test_a_low_source_score_changes_nothing() -> None:
    inspector = MarkerInspector({b"odd": 30})
    pb = _with_source([20.0], inspector=inspector)
    assert (
        pb
        >> DataReceived(CLIENT, b"odd")
        << Emit("alert", {"session_score": 30})
        << Send(MAIN, b"odd") << Send(HONEYPOT, b"odd")
    )
    assert pb.session.state is State.MIRROR


def test_the_source_score_is_asked_only_when_an_alert_falls_short() -> None:
    asked = []

    def source() -> float:
        asked.append(1)
        return 0.0

    pb = Playbook(Session(SessionPolicy(switch_threshold=100), source_score=source, source_threshold=200))
    pb.run(START, Opened(MAIN), Opened(HONEYPOT), DataReceived(CLIENT, b"plain"))
    assert asked == []  # no alert, no question
    pb.run(AlertRaised(40, "ids", "scan"))
    assert asked == [1]
    pb.run(AlertRaised(70, "ids", "exploit"))  # the session's own score switches
    assert asked == [1] and pb.session.state is not State.MIRROR


def test_no_source_threshold_means_no_source_switching() -> None:
    pb = Playbook(Session(SessionPolicy(switch_threshold=100), source_score=lambda: 1e9, source_threshold=0))
    pb.run(START, Opened(MAIN), Opened(HONEYPOT), AlertRaised(10, "ids", "scan"))
    assert pb.session.state is State.MIRROR


def test_source_score_in_dry_run_records_would_switch() -> None:
    pb = _with_source([90.0], SessionPolicy(switch_threshold=100, dry_run=True))
    assert (
        pb
        >> AlertRaised(20, "ids", "probe")
        << Emit("alert")
        << Emit("would_switch", {"by": "detector:ids", "reason": "source score 110: probe", "score": 20})
    )
    assert pb.session.state is State.MIRROR
