"""Events and commands of the sans-IO session core.

The relay feeds *events* (bytes arrived, a connection closed, a timer fired) into a
:class:`~honeyswitch.core.session.Session` and carries out the *commands* it returns
(send bytes, open or reset a connection, pause reading).  Nothing here touches a socket,
so every transition can be tested as a script of events.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class End(enum.Enum):
    """One of the three connections of a session."""

    CLIENT = "client"
    MAIN = "main"
    HONEYPOT = "honeypot"

    # Members are singletons: identity hashing in C, not Enum's hash of the name in
    # Python (ends key the sets and dicts the core and relay look up per chunk).
    __hash__ = object.__hash__


class State(enum.Enum):
    MIRROR = "mirror"  # client -> main + honeypot; main -> client
    MAIN_ONLY = "main_only"  # honeypot unavailable or dropped
    SWITCHING = "switching"  # quiet alignment: draining replies before the cut-over
    HONEYPOT = "honeypot"  # switched: client <-> honeypot, main reset
    DIRECT = "direct"  # blacklisted source: honeypot only from the start
    CLOSED = "closed"


class Align(enum.Enum):
    BYTES = "bytes"
    QUIET = "quiet"


class NoHoneypotPolicy(enum.Enum):
    """What a switch does to a session that has no honeypot (MAIN_ONLY)."""

    RESET = "reset"
    PASS = "pass"


# ---------------------------------------------------------------- events (relay -> core)

# Events and commands are built for every chunk and every connection.  Each has an
# __init__ of its own (``init=False``): compiled, that is a native constructor, four times
# cheaper than the one dataclasses generates (and eight times a frozen one's), while
# dataclasses still gives them equality, repr, hashing and fields().  None is frozen, for
# the same reason: treat them as immutable all the same.


@dataclass(init=False, unsafe_hash=True)
class Opened:
    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class OpenFailed:
    end: End
    reason: str

    def __init__(self, end: End, reason: str) -> None:
        self.end = end
        self.reason = reason


@dataclass(init=False, unsafe_hash=True)
class DataReceived:
    end: End
    data: bytes
    at: float = 0.0  # the relay's monotonic clock; quiet alignment reads reply gaps from it

    def __init__(self, end: End, data: bytes, at: float = 0.0) -> None:
        self.end = end
        self.data = data
        self.at = at


@dataclass(init=False, unsafe_hash=True)
class EofReceived:
    """The peer half-closed: it will send no more, it may still read."""

    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class ConnectionLost:
    end: End
    reset: bool = False
    reason: str = ""

    def __init__(self, end: End, reset: bool = False, reason: str = "") -> None:
        self.end = end
        self.reset = reset
        self.reason = reason


@dataclass(init=False, unsafe_hash=True)
class WritePaused:
    """The relay's write buffer towards ``end`` went over its high-water mark."""

    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class WriteResumed:
    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class TimerFired:
    name: str

    def __init__(self, name: str) -> None:
        self.name = name


@dataclass(init=False, unsafe_hash=True)
class SwitchRequested:
    by: str  # "operator", "signal", "detector:<name>", "blacklist" ...
    reason: str = ""

    def __init__(self, by: str, reason: str = "") -> None:
        self.by = by
        self.reason = reason


@dataclass(init=False, unsafe_hash=True)
class AlertRaised:
    """An alert about this session from outside the inline path (external IDS...)."""

    score: float
    detector: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def __init__(self, score: float, detector: str, reason: str,
                 details: dict[str, Any] | None = None) -> None:
        self.score = score
        self.detector = detector
        self.reason = reason
        self.details = {} if details is None else details


Event = (
    Opened
    | OpenFailed
    | DataReceived
    | EofReceived
    | ConnectionLost
    | WritePaused
    | WriteResumed
    | TimerFired
    | SwitchRequested
    | AlertRaised
)


# -------------------------------------------------------------- commands (core -> relay)


@dataclass(init=False, unsafe_hash=True)
class Connect:
    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class Send:
    end: End
    data: bytes

    def __init__(self, end: End, data: bytes) -> None:
        self.end = end
        self.data = data


@dataclass(init=False, unsafe_hash=True)
class Shutdown:
    """Half-close our sending side towards ``end`` (write EOF)."""

    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class Close:
    """Close ``end``; with ``reset`` it goes down with a TCP RST (SO_LINGER 0)."""

    end: End
    reset: bool = False

    def __init__(self, end: End, reset: bool = False) -> None:
        self.end = end
        self.reset = reset


@dataclass(init=False, unsafe_hash=True)
class PauseReading:
    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class ResumeReading:
    end: End

    def __init__(self, end: End) -> None:
        self.end = end


@dataclass(init=False, unsafe_hash=True)
class SetTimer:
    name: str
    delay: float

    def __init__(self, name: str, delay: float) -> None:
        self.name = name
        self.delay = delay


@dataclass(init=False, unsafe_hash=True)
class CancelTimer:
    name: str

    def __init__(self, name: str) -> None:
        self.name = name


@dataclass(init=False, unsafe_hash=True)
class Emit:
    """Record an event (see :mod:`honeyswitch.events`)."""

    event_type: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __init__(self, event_type: str, fields: dict[str, Any] | None = None) -> None:
        self.event_type = event_type
        self.fields = {} if fields is None else fields


Command = (
    Connect | Send | Shutdown | Close | PauseReading | ResumeReading | SetTimer | CancelTimer | Emit
)
