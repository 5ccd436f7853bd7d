"""A playbook: one test of the session core as one readable table of events and commands.

    assert (
        Playbook(Session(SessionPolicy()))
        >> START
        << PauseReading(CLIENT) << Connect(MAIN) << Connect(HONEYPOT)
        >> Opened(MAIN)
        << ResumeReading(CLIENT)
    )

``>> event`` feeds an event (``START`` calls :meth:`Session.start`); each ``<< command``
that follows is one command that event must return, in order, and nothing else may be
returned.  An expected :class:`Emit` matches loosely: same ``event_type`` and the fields
it names; ``ignore_emits=True`` also lets unexpected ``Emit`` commands pass.

The script is checked when the playbook is used as a bool (``assert playbook``), so a
mismatch shows the whole conversation so far.  A playbook can be extended and asserted
again; only the new steps run, so tests may look at the session in between.
:meth:`Playbook.run` feeds setup events without checking what they return.

A script that is written but never asserted would pass without running: every playbook
made since the last :func:`unchecked` call is kept, and the suite's fixture fails a test
that leaves steps unchecked.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any, ClassVar

from ..core.session import Session
from ..core.types import Command, Emit, End, Event, Send


class _Start:
    """Stands for :meth:`Session.start` in a script."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "START"


START = _Start()


@dataclass(slots=True)
class _Step:
    event: Event | _Start
    expected: list[Command]


class Playbook:
    """A script of events and the commands each must produce; see the module docstring."""

    _made: ClassVar[list[Playbook]] = []  # every playbook since the last unchecked()

    def __init__(self, session: Session, *, ignore_emits: bool = False) -> None:
        self.session = session
        self.ignore_emits = ignore_emits
        self.transcript: list[Event | _Start | Command] = []  # what really happened
        self._steps: list[_Step] = []
        self._done = 0  # steps already run
        Playbook._made.append(self)

    def pending(self) -> list[str]:
        """The steps written but not run yet, as script lines."""
        lines: list[str] = []
        for step in self._steps[self._done:]:
            lines.append(f">> {fmt(step.event)}")
            lines.extend(f"<< {fmt(c)}" for c in step.expected)
        return lines

    def __rshift__(self, event: Event | _Start) -> Playbook:
        self._steps.append(_Step(event, []))
        return self

    def __lshift__(self, command: Command) -> Playbook:
        if len(self._steps) == self._done:
            raise ValueError(f"<< {fmt(command)} is not preceded by a new >> event")
        self._steps[-1].expected.append(command)
        return self

    def __bool__(self) -> bool:
        while self._done < len(self._steps):
            step = self._steps[self._done]
            self._done += 1
            actual = self._run(step.event)
            self.transcript.append(step.event)
            self.transcript.extend(actual)
            if not self._matches(step.expected, actual):
                raise AssertionError(self._report(step, actual))
        return True

    def run(self, *events: Event | _Start) -> list[Command]:
        """Feed events without checking what they return: the setup part of a test."""
        assert self
        out: list[Command] = []
        for event in events:
            actual = self._run(event)
            self.transcript.append(event)
            self.transcript.extend(actual)
            out.extend(actual)
        return out

    def commands(self) -> list[Command]:
        """Every command returned so far, in order."""
        return [c for c in self.transcript if isinstance(c, Command)]

    def _run(self, event: Event | _Start) -> list[Command]:
        if isinstance(event, _Start):
            return self.session.start()
        return self.session.handle(event)

    def _matches(self, expected: list[Command], actual: list[Command]) -> bool:
        pairs = _common(expected, actual)
        paired = {j for _, j in pairs}
        return len(pairs) == len(expected) and all(
            j in paired or (self.ignore_emits and isinstance(c, Emit))
            for j, c in enumerate(actual)
        )

    def _report(self, step: _Step, actual: list[Command]) -> str:
        before = self.transcript[: len(self.transcript) - len(actual) - 1]
        lines = ["playbook mismatch after", *(_line(x) for x in before), ""]
        lines.append(f">> {fmt(step.event)}")
        lines.extend(self._diff(step.expected, actual))
        ignored = ", . ignored" if self.ignore_emits else ""
        lines.append(f"(- expected only, + actual only{ignored})")
        return "\n".join(lines)

    def _diff(self, expected: list[Command], actual: list[Command]) -> list[str]:
        lines: list[str] = []
        i = j = 0
        for pi, pj in [*_common(expected, actual), (len(expected), len(actual))]:
            lines.extend(f"- << {fmt(c)}" for c in expected[i:pi])
            for c in actual[j:pj]:
                mark = "." if self.ignore_emits and isinstance(c, Emit) else "+"
                lines.append(f"{mark} << {fmt(c)}")
            if pj < len(actual):
                lines.append(f"  << {fmt(actual[pj])}")
            i, j = pi + 1, pj + 1
        return lines


def unchecked() -> list[str]:
    """The pending steps of every playbook made since the last call (which forgets them):
    a script nobody asserted.  Empty when every script ran."""
    made, Playbook._made = Playbook._made, []
    return [f"{line}" for pb in made for line in pb.pending()]


def _common(expected: list[Command], actual: list[Command]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence under :func:`matches`."""
    n, m = len(expected), len(actual)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for a in range(n - 1, -1, -1):
        for b in range(m - 1, -1, -1):
            if matches(expected[a], actual[b]):
                best[a][b] = best[a + 1][b + 1] + 1
            else:
                best[a][b] = max(best[a + 1][b], best[a][b + 1])
    pairs: list[tuple[int, int]] = []
    a = b = 0
    while a < n and b < m:
        if matches(expected[a], actual[b]) and best[a][b] == best[a + 1][b + 1] + 1:
            pairs.append((a, b))
            a, b = a + 1, b + 1
        elif best[a + 1][b] >= best[a][b + 1]:
            a += 1
        else:
            b += 1
    return pairs


def matches(expected: Command, actual: Command) -> bool:
    """Equality, except that an expected Emit only names the fields it cares about."""
    if isinstance(expected, Emit) and isinstance(actual, Emit):
        return expected.event_type == actual.event_type and all(
            k in actual.fields and actual.fields[k] == v for k, v in expected.fields.items()
        )
    return expected == actual


def sent(commands: Iterable[Command], end: End) -> bytes:
    """All bytes the commands send to ``end``, joined."""
    return b"".join(c.data for c in commands if isinstance(c, Send) and c.end is end)


def fmt(x: object) -> str:
    """A short repr for tables: ``Send(CLIENT, b'hi')``, ``Emit('switch', by='operator')``."""
    if isinstance(x, Emit):
        args = [repr(x.event_type), *(f"{k}={_value(v)}" for k, v in x.fields.items())]
        return f"Emit({', '.join(args)})"
    if is_dataclass(x) and not isinstance(x, type):
        args = []
        for f in fields(x):
            v = getattr(x, f.name)
            if f.default is MISSING:
                args.append(_value(v))
            elif v != f.default:
                args.append(f"{f.name}={_value(v)}")
        return f"{type(x).__name__}({', '.join(args)})"
    return repr(x)


def _value(v: Any) -> str:
    return v.name if isinstance(v, enum.Enum) else repr(v)


def _line(x: Event | _Start | Command) -> str:
    return f"<< {fmt(x)}" if isinstance(x, Command) else f">> {fmt(x)}"
