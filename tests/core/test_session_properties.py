"""Properties of the switch over random chunkings: no reply byte torn, duplicated or lost,
and nothing for main once the session has switched."""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.core.session import DEADLINE_TIMER, QUIET_TIMER, Session, SessionPolicy
from honeyswitch.core.types import (
    Align,
    Command,
    DataReceived,
    Emit,
    End,
    EofReceived,
    Event,
    Opened,
    Send,
    Shutdown,
    State,
    SwitchRequested,
    TimerFired,
)
from honeyswitch.detect.base import Alert
from honeyswitch.testing.playbook import sent

CLIENT, MAIN, HONEYPOT = End.CLIENT, End.MAIN, End.HONEYPOT
SWITCH = SwitchRequested("operator")


@dataclass
class Script:
    stream: bytes  # what main and the honeypot both say, each in its own chunks
    client: bytes  # what the client says
    events: list[Event]


class Recorder:
    """An inspector that raises nothing, or one alert on main's ``trigger``-th chunk."""

    def __init__(self, trigger: int | None = None) -> None:
        self.trigger = trigger
        self.server_chunks = 0
        self.to_client = b""

    def feed(self, data: bytes, to_server: bool) -> Sequence[Alert]:
        if to_server:
            return []
        self.to_client += data
        self.server_chunks += 1
        if self.server_chunks == self.trigger:
            return [Alert(1000, "fake", "trigger")]
        return []


@st.composite
def chunks(draw: st.DrawFn, data: bytes) -> list[bytes]:
    if len(data) < 2:
        return [data] if data else []
    cuts = sorted(draw(st.sets(st.integers(1, len(data) - 1))) | {0, len(data)})
    return [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


@st.composite
def scripts(draw: st.DrawFn, *, switch: bool = True, quiet_timer: bool = False) -> Script:
    """Main's, the honeypot's and the client's chunks interleaved at random, the backends
    connecting at random points (before they speak) and, maybe, a switch and a quiet timer."""
    stream = draw(st.binary(max_size=300))
    client = draw(st.binary(max_size=40))
    queues = {
        MAIN: deque(draw(chunks(stream))),
        HONEYPOT: deque(draw(chunks(stream))),
        CLIENT: deque(draw(chunks(client))),
    }
    order = draw(st.permutations([end for end, q in queues.items() for _ in q]))
    events: list[Event] = [DataReceived(end, queues[end].popleft()) for end in order]
    for backend in (MAIN, HONEYPOT):  # each connects before it speaks
        first = next(
            (i for i, e in enumerate(events) if isinstance(e, DataReceived) and e.end is backend),
            len(events),
        )
        events.insert(draw(st.integers(0, first)), Opened(backend))
    if switch:
        at = draw(st.integers(0, len(events)))
        events.insert(at, SWITCH)
        if quiet_timer:
            events.insert(draw(st.integers(at + 1, len(events))), TimerFired(QUIET_TIMER))
    return Script(stream, client, events)


def play(session: Session, events: list[Event]) -> list[tuple[Event | None, list[Command]]]:
    steps: list[tuple[Event | None, list[Command]]] = [(None, session.start())]
    for event in events:
        steps.append((event, session.handle(event)))
    return steps


def all_commands(steps: list[tuple[Event | None, list[Command]]]) -> list[Command]:
    return [c for _, cmds in steps for c in cmds]


def after_switch(steps: list[tuple[Event | None, list[Command]]]) -> list[Command]:
    """The commands from the switch's own step on, past the ``switch`` Emit."""
    flat = all_commands(steps)
    at = next(i for i, c in enumerate(flat) if isinstance(c, Emit) and c.event_type == "switch")
    return flat[at:]


@given(scripts(), st.integers(1, 400))
def test_bytes_switch_gives_the_client_the_stream_exactly_once(
    script: Script, honeypot_buffer: int
) -> None:
    recorder = Recorder()
    policy = SessionPolicy(honeypot_buffer=max(honeypot_buffer, len(script.client)))
    session = Session(policy, inspector=recorder)
    steps = play(session, [*script.events, TimerFired(DEADLINE_TIMER)])
    cmds = all_commands(steps)
    switch = next(c for c in cmds if isinstance(c, Emit) and c.event_type == "switch")
    if switch.fields["align"] == "bytes":
        assert sent(cmds, CLIENT) == script.stream
        assert recorder.to_client == script.stream
    else:  # the honeypot ran too far ahead: quiet alignment, the stream resumes later
        done = next(c for c in cmds if isinstance(c, Emit) and c.event_type == "switch_done")
        a, b = done.fields["main_bytes_to_client"], done.fields["honeypot_bytes"]
        assert sent(cmds, CLIENT) == script.stream[:a] + script.stream[b:]
    assert session.state is State.HONEYPOT
    assert sent(cmds, HONEYPOT) == script.client


@given(scripts())
def test_nothing_reaches_main_after_the_switch(script: Script) -> None:
    session = Session(SessionPolicy())
    steps = play(session, script.events)
    cmds, later = all_commands(steps), after_switch(steps)
    assert not [c for c in later if isinstance(c, Send) and c.end is MAIN]
    assert script.client.startswith(sent(cmds, MAIN))
    assert sent(cmds, HONEYPOT) == script.client


@given(scripts(switch=False), st.integers(1, 20))
def test_switch_on_mains_reply_gives_the_client_the_stream_exactly_once(
    script: Script, trigger: int
) -> None:
    recorder = Recorder(trigger)
    session = Session(SessionPolicy(), inspector=recorder)
    cmds = all_commands(play(session, script.events))
    assert sent(cmds, CLIENT) == script.stream
    assert recorder.to_client == script.stream  # every position inspected once
    main_chunks = sum(1 for e in script.events if isinstance(e, DataReceived) and e.end is MAIN)
    assert session.state is (State.HONEYPOT if trigger <= main_chunks else State.MIRROR)


@given(scripts(quiet_timer=True))
def test_quiet_switch_forwards_main_then_honeypot_never_a_mix(script: Script) -> None:
    session = Session(SessionPolicy(align=Align.QUIET))
    cmds = all_commands(play(session, [*script.events, TimerFired(DEADLINE_TIMER)]))
    done = next(c for c in cmds if isinstance(c, Emit) and c.event_type == "switch_done")
    a, b = done.fields["main_bytes_to_client"], done.fields["honeypot_bytes"]
    assert sent(cmds, CLIENT) == script.stream[:a] + script.stream[b:]
    assert sent(cmds, HONEYPOT) == script.client
    assert script.client.startswith(sent(cmds, MAIN))


@given(scripts())
def test_honeypot_eof_after_the_switch_ends_the_clients_stream_once(script: Script) -> None:
    session = Session(SessionPolicy())
    cmds = all_commands(play(session, [*script.events, EofReceived(HONEYPOT)]))
    shut = [i for i, c in enumerate(cmds) if c == Shutdown(CLIENT)]
    assert len(shut) == 1
    assert not [c for c in cmds[shut[0] :] if isinstance(c, Send) and c.end is CLIENT]


@st.composite
def diverging(draw: st.DrawFn) -> tuple[Script, int]:
    """A script whose honeypot says one byte differently (its copy diverged), and a hold
    limit small enough that a quiet switch may pause the client."""
    script = draw(scripts())
    if script.stream:
        at = draw(st.integers(0, len(script.stream) - 1))
        other = script.stream[:at] + bytes([script.stream[at] ^ 0xFF]) + script.stream[at + 1:]
        hp = [e for e in script.events if isinstance(e, DataReceived) and e.end is HONEYPOT]
        pos = 0
        for e in hp:  # the honeypot's chunks, rewritten in place
            n = len(e.data)
            e.data = other[pos:pos + n]
            pos += n
    return script, draw(st.integers(1, 64))


def client_paused(cmds: list[Command]) -> bool:
    from honeyswitch.core.types import PauseReading, ResumeReading

    paused = False
    for c in cmds:
        if isinstance(c, PauseReading) and c.end is CLIENT:
            paused = True
        elif isinstance(c, ResumeReading) and c.end is CLIENT:
            paused = False
    return paused


@given(diverging())
def test_after_any_switch_the_client_is_read_again(case: tuple[Script, int]) -> None:
    """Liveness: whatever the divergence and chunking, once the switch is over (its
    timers fired) the client is not left paused, and its next bytes reach the honeypot."""
    script, hold = case
    session = Session(SessionPolicy(hold_limit=hold, quiet_time=0.2, quiet_max=3.0))
    steps = play(session, [*script.events, TimerFired(QUIET_TIMER), TimerFired(DEADLINE_TIMER),
                           DataReceived(CLIENT, b"after")])
    cmds = all_commands(steps)
    assert session.state is State.HONEYPOT
    assert not client_paused(cmds)
    assert sent(cmds, HONEYPOT).endswith(b"after")
