"""Write backpressure: which end's reading a full write buffer pauses, how pause reasons
add up, and where the pauses go when the session switches."""
from __future__ import annotations

from honeyswitch.core.session import DEADLINE_TIMER, QUIET_TIMER, Session, SessionPolicy
from honeyswitch.core.types import (
    Align,
    CancelTimer,
    Close,
    ConnectionLost,
    DataReceived,
    Emit,
    End,
    NoHoneypotPolicy,
    Opened,
    PauseReading,
    ResumeReading,
    Send,
    SetTimer,
    SwitchRequested,
    TimerFired,
    WritePaused,
    WriteResumed,
)
from honeyswitch.testing.playbook import START, Playbook

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
QUIET = SessionPolicy(align=Align.QUIET, quiet_time=0.2, quiet_max=3.0)


def mirror(policy: SessionPolicy | None = None) -> Playbook:
    pb = Playbook(Session(policy or SessionPolicy()), ignore_emits=True)
    pb.run(START, Opened(MAIN), Opened(HONEYPOT))
    return pb


def direct() -> Playbook:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    pb.run(START, Opened(HONEYPOT))
    return pb


# ---------------------------------------------------------------- one end at a time


def test_slow_client_pauses_main_not_the_honeypot() -> None:
    assert (
        mirror()
        >> WritePaused(CLIENT)
        << PauseReading(MAIN)
        >> WritePaused(CLIENT)  # said twice, paused once
        >> DataReceived(HONEYPOT, b"the shadow keeps talking")
        >> WriteResumed(CLIENT)
        << ResumeReading(MAIN)
        >> WriteResumed(CLIENT)
    )


def test_slow_main_pauses_the_client() -> None:
    assert (
        mirror()
        >> WritePaused(MAIN)
        << PauseReading(CLIENT)
        >> WritePaused(MAIN)
        >> WriteResumed(MAIN)
        << ResumeReading(CLIENT)
    )


def test_slow_honeypot_in_mirror_is_dropped_not_waited_for() -> None:
    pb = mirror()
    assert (
        pb
        >> WritePaused(HONEYPOT)
        << Emit("honeypot_dropped", {"reason": "honeypot fell behind, buffer limit reached"})
        << Close(HONEYPOT, reset=True)
        >> WriteResumed(HONEYPOT)
        >> DataReceived(CLIENT, b"x")
        << Send(MAIN, b"x")
    )
    assert pb.session.state.value == "main_only"


def test_slow_honeypot_when_it_serves_pauses_the_client() -> None:
    pb = mirror()
    pb.run(SwitchRequested("operator"))
    assert pb >> WritePaused(HONEYPOT) << PauseReading(CLIENT)
    assert pb >> WriteResumed(HONEYPOT) << ResumeReading(CLIENT)
    assert (
        direct()
        >> WritePaused(HONEYPOT)
        << PauseReading(CLIENT)
        >> WriteResumed(HONEYPOT)
        << ResumeReading(CLIENT)
    )


def test_slow_client_in_direct_pauses_the_honeypot() -> None:
    assert (
        direct()
        >> WritePaused(CLIENT)
        << PauseReading(HONEYPOT)
        >> WriteResumed(CLIENT)
        << ResumeReading(HONEYPOT)
    )


def test_write_pauses_of_ends_that_do_not_serve_are_ignored() -> None:
    pb = mirror()
    pb.run(SwitchRequested("operator"))
    assert pb >> WritePaused(MAIN) >> WriteResumed(MAIN)
    pb = mirror()
    pb.run(ConnectionLost(HONEYPOT, reset=True))
    assert pb >> WritePaused(HONEYPOT) >> WriteResumed(HONEYPOT)


# ------------------------------------------------------------ reasons add up


def test_client_reading_resumes_only_when_every_reason_is_gone() -> None:
    pb = mirror(SessionPolicy(align=Align.QUIET, hold_limit=3))
    assert (
        pb
        >> WritePaused(MAIN)
        << PauseReading(CLIENT)
        >> SwitchRequested("operator")  # client bytes are held now, main's buffer is moot
        << ResumeReading(CLIENT)
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        >> DataReceived(CLIENT, b"held")
        << PauseReading(CLIENT)
        >> WriteResumed(MAIN)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"held")
        << ResumeReading(CLIENT)
    )


def test_held_bytes_and_a_slow_honeypot_both_hold_the_client() -> None:
    pb = Playbook(Session(SessionPolicy(align=Align.QUIET, hold_limit=3)), ignore_emits=True)
    pb.run(START, Opened(MAIN), DataReceived(CLIENT, b"early"), SwitchRequested("operator"))
    assert (
        pb
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"early")
        >> WritePaused(HONEYPOT)
        << PauseReading(CLIENT)
        >> DataReceived(CLIENT, b"held")  # over hold_limit too: no second pause
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(HONEYPOT, b"held")
        >> WriteResumed(HONEYPOT)
        << ResumeReading(CLIENT)
    )


# ----------------------------------------------------------- pauses at the switch


def test_slow_client_pause_moves_to_the_honeypot_at_a_bytes_switch() -> None:
    assert (
        mirror()
        >> WritePaused(CLIENT)
        << PauseReading(MAIN)
        >> SwitchRequested("operator")
        << Close(MAIN, reset=True)
        << PauseReading(HONEYPOT)
        >> WriteResumed(CLIENT)
        << ResumeReading(HONEYPOT)
    )


def test_pause_of_a_connecting_honeypot_is_repeated_once_it_is_open() -> None:
    pb = Playbook(Session(SessionPolicy()), ignore_emits=True)
    pb.run(START, Opened(MAIN), DataReceived(MAIN, b"big reply"))
    assert (
        pb
        >> WritePaused(CLIENT)
        << PauseReading(MAIN)
        >> SwitchRequested("operator")
        << Close(MAIN, reset=True)
        << PauseReading(HONEYPOT)
        >> Opened(HONEYPOT)
        << PauseReading(HONEYPOT)
        >> WriteResumed(CLIENT)
        << ResumeReading(HONEYPOT)
    )


def test_slow_main_no_longer_holds_the_client_after_a_bytes_switch() -> None:
    assert (
        mirror()
        >> WritePaused(MAIN)
        << PauseReading(CLIENT)
        >> SwitchRequested("operator")
        << Close(MAIN, reset=True)
        << ResumeReading(CLIENT)
        >> WriteResumed(MAIN)
    )


def test_quiet_switch_waits_while_main_is_held_back_by_the_client() -> None:
    pb = mirror(QUIET)
    pb.run(DataReceived(HONEYPOT, b"hp reply"), SwitchRequested("operator"))
    assert (
        pb
        >> WritePaused(CLIENT)
        << PauseReading(MAIN)
        >> TimerFired(QUIET_TIMER)  # main is not quiet, we stopped reading it
        >> WriteResumed(CLIENT)
        << ResumeReading(MAIN)
        << SetTimer(QUIET_TIMER, 0.2)
        >> DataReceived(MAIN, b"rest of reply")
        << Send(CLIENT, b"rest of reply")
        << SetTimer(QUIET_TIMER, 0.2)
        >> TimerFired(QUIET_TIMER)
        << Close(MAIN, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
    )


def test_quiet_deadline_moves_the_slow_client_pause_to_the_honeypot() -> None:
    pb = mirror(QUIET)
    pb.run(SwitchRequested("operator"))
    assert (
        pb
        >> WritePaused(CLIENT)
        << PauseReading(MAIN)
        >> TimerFired(DEADLINE_TIMER)
        << Close(MAIN, reset=True)
        << PauseReading(HONEYPOT)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        >> WriteResumed(CLIENT)
        << ResumeReading(HONEYPOT)
    )


def test_aborted_quiet_switch_restores_a_slow_mains_pause() -> None:
    policy = SessionPolicy(align=Align.QUIET, no_honeypot=NoHoneypotPolicy.PASS)
    assert (
        mirror(policy)
        >> WritePaused(MAIN)
        << PauseReading(CLIENT)
        >> SwitchRequested("operator")
        << ResumeReading(CLIENT)
        << SetTimer(QUIET_TIMER, 0.2) << SetTimer(DEADLINE_TIMER, 3.0)
        >> DataReceived(CLIENT, b"held")
        >> ConnectionLost(HONEYPOT, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << Send(MAIN, b"held")
        << PauseReading(CLIENT)
        >> WriteResumed(MAIN)
        << ResumeReading(CLIENT)
    )


def test_aborted_quiet_switch_forgets_the_dead_honeypots_pause() -> None:
    policy = SessionPolicy(align=Align.QUIET, no_honeypot=NoHoneypotPolicy.PASS)
    pb = Playbook(Session(policy), ignore_emits=True)
    pb.run(START, Opened(MAIN), SwitchRequested("operator"), Opened(HONEYPOT))
    assert (
        pb
        >> WritePaused(HONEYPOT)
        << PauseReading(CLIENT)
        >> ConnectionLost(HONEYPOT, reset=True)
        << CancelTimer(QUIET_TIMER) << CancelTimer(DEADLINE_TIMER)
        << ResumeReading(CLIENT)
    )
