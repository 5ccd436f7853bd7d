"""Session core without a switch: start, mirroring, the honeypot's pending buffer,
half-closes, resets, failed connects and the end of a session."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from honeyswitch.core.session import ANSWERS_TIMER, Session, SessionPolicy
from honeyswitch.core.types import (
    Align,
    Close,
    Connect,
    ConnectionLost,
    DataReceived,
    Emit,
    End,
    EofReceived,
    Event,
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
from honeyswitch.testing.playbook import START, Playbook

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT


def mirror(policy: SessionPolicy | None = None) -> Playbook:
    """A session in MIRROR with both backends open."""
    pb = Playbook(Session(policy or SessionPolicy()))
    pb.run(START, Opened(MAIN), Opened(HONEYPOT))
    return pb


def main_only(policy: SessionPolicy | None = None) -> Playbook:
    """A session whose honeypot could not be reached."""
    pb = Playbook(Session(policy or SessionPolicy()))
    pb.run(START, OpenFailed(HONEYPOT, "refused"), Opened(MAIN))
    assert pb.session.state is State.MAIN_ONLY
    return pb


def direct() -> Playbook:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    pb.run(START, Opened(HONEYPOT))
    return pb


def honeypot() -> Playbook:
    """A session switched (bytes alignment, nothing said yet) to the honeypot."""
    pb = mirror()
    pb.run(SwitchRequested("operator"))
    assert pb.session.state is State.HONEYPOT
    return pb


# ------------------------------------------------------------------------ start


def test_start_mirror_connects_both_and_holds_the_client() -> None:
    pb = Playbook(Session(SessionPolicy()))
    assert pb >> START << PauseReading(CLIENT) << Connect(MAIN) << Connect(HONEYPOT)
    assert pb.session.state is State.MIRROR
    assert pb.session.serving is MAIN
    assert not pb.session.reached_honeypot


def test_start_direct_never_contacts_main() -> None:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    assert pb >> START << PauseReading(CLIENT) << Connect(HONEYPOT)
    assert pb.session.state is State.DIRECT
    assert pb.session.serving is HONEYPOT
    assert pb.session.reached_honeypot


def test_client_is_read_once_main_is_up_whatever_the_honeypot_does() -> None:
    assert (
        Playbook(Session(SessionPolicy()))
        >> START
        << PauseReading(CLIENT) << Connect(MAIN) << Connect(HONEYPOT)
        >> Opened(HONEYPOT)
        >> Opened(MAIN)
        << ResumeReading(CLIENT)
    )


def test_client_is_read_at_once_if_main_connects_first() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START)
    assert pb >> Opened(MAIN) << ResumeReading(CLIENT) >> Opened(HONEYPOT)


def test_direct_client_is_read_once_the_honeypot_is_up() -> None:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    pb.run(START)
    assert pb >> Opened(HONEYPOT) << ResumeReading(CLIENT)


# --------------------------------------------------------------------- mirroring


def test_mirror_sends_client_bytes_to_both_and_only_mains_replies_back() -> None:
    pb = mirror()
    assert (
        pb
        >> DataReceived(CLIENT, b"GET /")
        << Send(MAIN, b"GET /") << Send(HONEYPOT, b"GET /")
        >> DataReceived(HONEYPOT, b"200 honeypot")
        >> DataReceived(MAIN, b"200 main")
        << Send(CLIENT, b"200 main")
        << Emit("divergence", {"position": 4, "main_excerpt": "main", "honeypot_excerpt": "honeypot"})
    )
    s = pb.session
    assert (s.client_received, s.main_sent, s.hp_received) == (5, 8, 12)


def test_direct_relays_between_client_and_honeypot() -> None:
    assert (
        direct()
        >> DataReceived(CLIENT, b"USER root")
        << Send(HONEYPOT, b"USER root")
        >> DataReceived(HONEYPOT, b"331 ok")
        << Send(CLIENT, b"331 ok")
        >> DataReceived(MAIN, b"never")  # main was never contacted; nothing to relay
    )


def test_main_only_relays_between_client_and_main() -> None:
    assert (
        main_only()
        >> DataReceived(CLIENT, b"q")
        << Send(MAIN, b"q")
        >> DataReceived(MAIN, b"a")
        << Send(CLIENT, b"a")
    )


def test_client_bytes_read_before_main_is_up_wait_for_it() -> None:
    # Reading is paused until main connects, but a transport may hold a chunk already.
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START)
    assert (
        pb
        >> DataReceived(CLIENT, b"early")
        >> EofReceived(CLIENT)
        >> Opened(MAIN)
        << Send(MAIN, b"early") << Shutdown(MAIN) << ResumeReading(CLIENT)
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"early") << Shutdown(HONEYPOT)
    )


def test_client_bytes_for_a_main_that_never_came_go_nowhere() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, DataReceived(CLIENT, b"early"), Opened(HONEYPOT))
    assert (
        pb
        >> OpenFailed(MAIN, "refused")
        << Emit("backend_failure", {"end": "main"})
        << Close(HONEYPOT, reset=True)
        << Close(CLIENT, reset=True)
    )


def test_late_honeypot_gets_pending_bytes_in_order_then_the_eof() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(MAIN))
    assert (
        pb
        >> DataReceived(CLIENT, b"one")
        << Send(MAIN, b"one")
        >> DataReceived(CLIENT, b"two")
        << Send(MAIN, b"two")
        >> EofReceived(CLIENT)
        << Shutdown(MAIN)
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"one") << Send(HONEYPOT, b"two") << Shutdown(HONEYPOT)
        >> DataReceived(HONEYPOT, b"late reply")
    )


def test_a_session_over_before_the_honeypot_connects_still_gives_it_every_byte() -> None:
    """Short sessions can end before the honeypot's connect returns: the client and main
    are closed, and the session ends only once the honeypot got the bytes and the EOF."""
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(MAIN))
    assert (
        pb
        >> DataReceived(CLIENT, b"SET k v\r\n")
        << Send(MAIN, b"SET k v\r\n")
        >> EofReceived(CLIENT)
        << Shutdown(MAIN)
        >> DataReceived(MAIN, b"+OK\r\n")
        << Send(CLIENT, b"+OK\r\n")
        >> EofReceived(MAIN)
        << Shutdown(CLIENT)
        << Close(MAIN) << Close(CLIENT)
    )
    assert pb.session.state is State.MIRROR  # waiting for the honeypot
    assert (
        pb
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"SET k v\r\n") << Shutdown(HONEYPOT)
        << SetTimer(ANSWERS_TIMER, 3.0)  # it owes main's reply: its output is recorded whole
        >> DataReceived(HONEYPOT, b"+OK\r\n")
        << Close(HONEYPOT)
    )
    assert pb.session.state is State.CLOSED and pb.session.close_reason == "closed"
    assert pb.session.hp_received == len(b"+OK\r\n")


def test_a_late_honeypot_that_owes_nothing_ends_the_session_at_once() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(MAIN), DataReceived(CLIENT, b"QUIT\r\n"), EofReceived(CLIENT), EofReceived(MAIN))
    assert pb.session.state is State.MIRROR and pb.session.main_sent == 0
    assert pb >> Opened(HONEYPOT) << Send(HONEYPOT, b"QUIT\r\n") << Shutdown(HONEYPOT) << Close(HONEYPOT)
    assert pb.session.state is State.CLOSED


def test_a_honeypot_that_fails_to_connect_after_the_session_ends_ends_it() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(MAIN), DataReceived(CLIENT, b"x"), EofReceived(CLIENT), EofReceived(MAIN))
    assert pb.session.state is State.MIRROR
    assert (
        pb
        >> OpenFailed(HONEYPOT, "connect timeout")
        << Emit("backend_failure", {"end": "honeypot", "reason": "connect timeout"})
    )
    assert pb.session.state is State.CLOSED


def test_direct_bytes_before_the_honeypot_is_up_wait_for_it() -> None:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    pb.run(START)
    assert (
        pb
        >> DataReceived(CLIENT, b"early")
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"early") << ResumeReading(CLIENT)
    )


def test_pending_up_to_the_limit_keeps_the_honeypot() -> None:
    pb = Playbook(Session(SessionPolicy(honeypot_buffer=10)))
    pb.run(START, Opened(MAIN))
    assert (
        pb
        >> DataReceived(CLIENT, b"0123456789")
        << Send(MAIN, b"0123456789")
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"0123456789")
    )
    assert pb.session.state is State.MIRROR


def test_pending_over_the_limit_drops_the_honeypot_not_the_client() -> None:
    pb = Playbook(Session(SessionPolicy(honeypot_buffer=10)))
    pb.run(START, Opened(MAIN))
    assert (
        pb
        >> DataReceived(CLIENT, b"012345")
        << Send(MAIN, b"012345")
        >> DataReceived(CLIENT, b"6789X")
        << Send(MAIN, b"6789X")
        << Emit("honeypot_dropped")
        << Close(HONEYPOT, reset=True)
        >> Opened(HONEYPOT)  # too late: the relay closes it
        >> DataReceived(CLIENT, b"more")
        << Send(MAIN, b"more")
        >> DataReceived(MAIN, b"reply")
        << Send(CLIENT, b"reply")
    )
    assert pb.session.state is State.MAIN_ONLY


def test_unknown_event_is_a_type_error() -> None:
    s = Session(SessionPolicy())
    s.start()
    with pytest.raises(TypeError):
        s.handle("data")  # type: ignore[arg-type]


def test_timers_outside_a_quiet_switch_are_ignored() -> None:
    assert mirror() >> TimerFired("quiet") >> TimerFired("switch_deadline")


# ------------------------------------------------------------------- half-closes


def test_mirror_client_eof_then_main_eof_ends_the_session() -> None:
    pb = mirror()
    assert (
        pb
        >> EofReceived(CLIENT)
        << Shutdown(MAIN) << Shutdown(HONEYPOT)
        >> DataReceived(MAIN, b"last words")
        << Send(CLIENT, b"last words")
        >> EofReceived(HONEYPOT)  # the shadow's EOF is not the client's business
        >> EofReceived(MAIN)
        << Shutdown(CLIENT)
        << Close(MAIN) << Close(HONEYPOT) << Close(CLIENT)
    )
    assert pb.session.state is State.CLOSED
    assert pb.session.close_reason == "closed"


def test_mirror_main_eof_first_then_client_keeps_talking() -> None:
    pb = mirror()
    assert (
        pb
        >> EofReceived(MAIN)
        << Shutdown(CLIENT)
        >> DataReceived(CLIENT, b"still")
        << Send(MAIN, b"still") << Send(HONEYPOT, b"still")
        >> ConnectionLost(MAIN)  # main closed cleanly after its EOF: nothing to say
        >> EofReceived(CLIENT)
        << Shutdown(HONEYPOT)
        << Close(HONEYPOT) << Close(CLIENT)
    )
    assert pb.session.state is State.CLOSED


def ended_owing_answers() -> Playbook:
    """Client and main done; the honeypot (its copy came late, batched) owes main's reply."""
    pb = mirror()
    assert (
        pb
        >> DataReceived(CLIENT, b"GET\n")
        << Send(MAIN, b"GET\n") << Send(HONEYPOT, b"GET\n")
        >> DataReceived(MAIN, b"reply\n")
        << Send(CLIENT, b"reply\n")
        >> EofReceived(MAIN)
        << Shutdown(CLIENT)
        >> EofReceived(CLIENT)
        << Shutdown(MAIN) << Shutdown(HONEYPOT)
        << Close(MAIN) << Close(CLIENT)  # they are done with: only the honeypot is waited for
        << SetTimer(ANSWERS_TIMER, 3.0)
    )
    assert pb.session.state is State.MIRROR
    return pb


def test_a_session_waits_for_the_answers_its_honeypot_still_owes() -> None:
    pb = ended_owing_answers()
    assert (
        pb
        >> DataReceived(HONEYPOT, b"rep")
        >> SwitchRequested("operator")  # the client is gone: nothing to switch
        >> DataReceived(HONEYPOT, b"ly\n")
        << Close(HONEYPOT)
    )
    assert pb.session.state is State.CLOSED and pb.session.hp_received == 6


def test_waiting_for_the_honeypots_answers_ends_at_its_eof_or_quiet_max() -> None:
    assert ended_owing_answers() >> EofReceived(HONEYPOT) << Close(HONEYPOT)
    assert ended_owing_answers() >> TimerFired(ANSWERS_TIMER) << Close(HONEYPOT)
    pb = ended_owing_answers()
    assert pb >> ConnectionLost(HONEYPOT, reset=True) << Emit("backend_failure") << Emit("honeypot_dropped")
    assert pb.session.state is State.CLOSED


def test_mirror_honeypot_eof_and_close_do_not_touch_the_client() -> None:
    assert (
        mirror()
        >> EofReceived(HONEYPOT)
        >> ConnectionLost(HONEYPOT)
        >> DataReceived(MAIN, b"x")
        << Send(CLIENT, b"x")
    )


def test_bytes_for_a_honeypot_that_finished_are_dropped_not_queued() -> None:
    pb = mirror(SessionPolicy(honeypot_buffer=4))
    pb.run(EofReceived(HONEYPOT), ConnectionLost(HONEYPOT))
    assert pb >> DataReceived(CLIENT, b"0123456789") << Send(MAIN, b"0123456789")
    assert pb.session.state is State.MIRROR


def test_main_only_half_closes() -> None:
    assert (
        main_only()
        >> EofReceived(CLIENT)
        << Shutdown(MAIN)
        >> EofReceived(MAIN)
        << Shutdown(CLIENT)
        << Close(MAIN) << Close(CLIENT)
    )


@pytest.mark.parametrize("setup", [direct, honeypot], ids=["direct", "honeypot"])
def test_served_by_honeypot_half_closes(setup: Callable[[], Playbook]) -> None:
    pb = setup()
    assert (
        pb
        >> EofReceived(HONEYPOT)
        << Shutdown(CLIENT)
        >> DataReceived(CLIENT, b"bye")
        << Send(HONEYPOT, b"bye")
        >> EofReceived(CLIENT)
        << Shutdown(HONEYPOT)
        << Close(HONEYPOT) << Close(CLIENT)
    )
    assert pb.session.state is State.CLOSED


def test_after_the_switch_mains_eof_and_bytes_mean_nothing() -> None:
    assert (
        honeypot()
        >> DataReceived(MAIN, b"late")
        >> EofReceived(MAIN)
        >> ConnectionLost(MAIN, reset=True)
        >> DataReceived(HONEYPOT, b"hp")
        << Send(CLIENT, b"hp")
    )


def test_client_eof_before_direct_honeypot_is_up_is_passed_on_later() -> None:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    pb.run(START)
    assert (
        pb
        >> DataReceived(CLIENT, b"x")
        >> EofReceived(CLIENT)
        >> Opened(HONEYPOT)
        << Send(HONEYPOT, b"x") << Shutdown(HONEYPOT) << ResumeReading(CLIENT)
    )


# ------------------------------------------------------------------------ resets


CLIENT_GONE_CASES: list[tuple[str, list[Event], list[End]]] = [
    ("mirror", [], [MAIN, HONEYPOT]),
    ("main_only", [WritePaused(HONEYPOT)], [MAIN]),
    ("switching", [SwitchRequested("operator")], [MAIN, HONEYPOT]),
    ("honeypot", [SwitchRequested("operator"), TimerFired("quiet")], [HONEYPOT]),
]


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "close"])
@pytest.mark.parametrize(
    "name, events, backends", CLIENT_GONE_CASES, ids=[c[0] for c in CLIENT_GONE_CASES]
)
def test_client_gone_closes_backends_the_same_way(
    name: str, events: list[Event], backends: list[End], reset: bool
) -> None:
    pb = mirror(SessionPolicy(align=Align.QUIET))
    pb.run(*events)
    assert pb.session.state.value == name
    pb >> ConnectionLost(CLIENT, reset=reset)
    for end in backends:
        pb << Close(end, reset=reset)
    assert pb
    assert pb.session.state is State.CLOSED
    assert pb.session.close_reason == ("client reset" if reset else "client closed")


def test_direct_client_reset_resets_the_honeypot() -> None:
    assert direct() >> ConnectionLost(CLIENT, reset=True) << Close(HONEYPOT, reset=True)


def test_client_gone_while_backends_connect_closes_them() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START)
    assert pb >> ConnectionLost(CLIENT) << Close(MAIN) << Close(HONEYPOT)


def test_main_reset_resets_the_client_and_the_honeypot() -> None:
    pb = mirror()
    assert (
        pb
        >> ConnectionLost(MAIN, reset=True)
        << Emit("backend_failure", {"end": "main"})
        << Close(HONEYPOT, reset=True)
        << Close(CLIENT, reset=True)
    )
    assert pb.session.close_reason.startswith("main:")


def test_main_reset_after_its_eof_still_resets_the_client() -> None:
    assert (
        mirror()
        >> EofReceived(MAIN)
        << Shutdown(CLIENT)
        >> ConnectionLost(MAIN, reset=True)
        << Emit("backend_failure", {"end": "main"})
        << Close(HONEYPOT, reset=True)
        << Close(CLIENT, reset=True)
    )


def test_main_lost_without_eof_is_a_failure() -> None:
    assert (
        main_only()
        >> ConnectionLost(MAIN, reason="broken pipe")
        << Emit("backend_failure", {"end": "main", "reason": "broken pipe"})
        << Close(CLIENT, reset=True)
    )


def test_honeypot_failure_in_mirror_never_disturbs_the_client() -> None:
    pb = mirror()
    assert (
        pb
        >> ConnectionLost(HONEYPOT, reset=True, reason="reset by peer")
        << Emit("backend_failure", {"end": "honeypot", "reason": "reset by peer"})
        << Emit("honeypot_dropped")
        >> DataReceived(CLIENT, b"x")
        << Send(MAIN, b"x")
    )
    assert pb.session.state is State.MAIN_ONLY


@pytest.mark.parametrize("setup", [direct, honeypot], ids=["direct", "honeypot"])
def test_honeypot_failure_when_it_serves_resets_the_client(setup: Callable[[], Playbook]) -> None:
    pb = setup()
    assert (
        pb
        >> ConnectionLost(HONEYPOT, reset=True)
        << Emit("backend_failure", {"end": "honeypot"})
        << Close(CLIENT, reset=True)
    )
    assert pb.session.state is State.CLOSED
    assert pb.session.close_reason.startswith("honeypot:")


# ----------------------------------------------------------------- failed connects


def test_main_unreachable_resets_the_client_and_the_connecting_honeypot() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START)
    assert (
        pb
        >> OpenFailed(MAIN, "refused")
        << Emit("backend_failure", {"end": "main", "reason": "refused"})
        << Close(HONEYPOT, reset=True)
        << Close(CLIENT, reset=True)
    )
    assert pb.session.close_reason == "main: refused"


def test_main_unreachable_in_main_only() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, OpenFailed(HONEYPOT, "refused"))
    assert (
        pb
        >> OpenFailed(MAIN, "timeout")
        << Emit("backend_failure", {"end": "main"})
        << Close(CLIENT, reset=True)
    )


def test_honeypot_unreachable_degrades_to_main_only() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START)
    assert (
        pb
        >> OpenFailed(HONEYPOT, "refused")
        << Emit("backend_failure", {"end": "honeypot", "reason": "refused"})
        << Emit("honeypot_dropped", {"reason": "refused"})
        >> Opened(MAIN)
        << ResumeReading(CLIENT)
    )
    assert pb.session.state is State.MAIN_ONLY


def test_honeypot_failure_reported_after_it_was_dropped_is_ignored() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(MAIN), WritePaused(HONEYPOT))
    assert pb >> OpenFailed(HONEYPOT, "refused")
    assert pb.session.state is State.MAIN_ONLY


def test_direct_honeypot_unreachable_resets_the_client() -> None:
    pb = Playbook(Session(SessionPolicy(), direct=True))
    pb.run(START)
    assert (
        pb
        >> OpenFailed(HONEYPOT, "refused")
        << Emit("backend_failure", {"end": "honeypot"})
        << Close(CLIENT, reset=True)
    )


def test_honeypot_unreachable_after_a_switch_resets_the_client() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(MAIN), SwitchRequested("operator"))
    assert pb.session.state is State.HONEYPOT
    assert (
        pb
        >> OpenFailed(HONEYPOT, "refused")
        << Emit("backend_failure", {"end": "honeypot"})
        << Close(CLIENT, reset=True)
    )


def test_main_failure_reported_after_the_switch_is_ignored() -> None:
    pb = Playbook(Session(SessionPolicy()))
    pb.run(START, Opened(HONEYPOT), SwitchRequested("operator"))
    assert pb >> OpenFailed(MAIN, "refused") >> Opened(MAIN)
    assert pb.session.state is State.HONEYPOT


# ------------------------------------------------------------------------- closed


def test_events_after_closed_are_ignored() -> None:
    pb = mirror()
    pb.run(ConnectionLost(CLIENT, reset=True))
    assert (
        pb
        >> DataReceived(CLIENT, b"x")
        >> DataReceived(MAIN, b"x")
        >> DataReceived(HONEYPOT, b"x")
        >> EofReceived(MAIN)
        >> ConnectionLost(MAIN, reset=True)
        >> OpenFailed(HONEYPOT, "x")
        >> WritePaused(CLIENT)
        >> SwitchRequested("operator")
        >> TimerFired("quiet")
    )
    assert pb.session.state is State.CLOSED
    assert pb.session.serving is None


def test_data_is_handle_of_data_received() -> None:
    """Session.data, the relay's per-chunk call, does what handle(DataReceived) does."""
    from honeyswitch.core.types import End, Opened

    script = [(End.CLIENT, b"GET / HTTP/1.1\r\n\r\n", 1.0), (End.MAIN, b"HTTP/1.1 200 OK\r\n", 1.1),
              (End.HONEYPOT, b"HTTP/1.1 200 OK\r\nX", 1.2), (End.MAIN, b"Y", 1.3), (End.CLIENT, b"bye", 1.4)]
    a, b = Session(SessionPolicy()), Session(SessionPolicy())
    assert a.start() == b.start()
    for end in (End.MAIN, End.HONEYPOT):
        assert a.handle(Opened(end)) == b.handle(Opened(end))
    for end, data, at in script:
        assert a.data(end, data, at) == b.handle(DataReceived(end, data, at))
    assert (a.main_sent, a.hp_received, a.client_received) == (b.main_sent, b.hp_received, b.client_received)
