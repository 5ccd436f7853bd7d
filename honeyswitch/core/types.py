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

# Events and commands are built for every chunk and every connection: none is frozen, as
# a frozen dataclass's __init__ costs about twice as much (compiled or not).  Treat them
# as immutable all the same; unsafe_hash keeps them hashable.


@dataclass(slots=True, unsafe_hash=True)
class Opened:
    end: End


@dataclass(slots=True, unsafe_hash=True)
class OpenFailed:
    end: End
    reason: str


@dataclass(slots=True, unsafe_hash=True)
class DataReceived:
    end: End
    data: bytes
    at: float = 0.0  # the relay's monotonic clock; quiet alignment reads reply gaps from it


@dataclass(slots=True, unsafe_hash=True)
class EofReceived:
    """The peer half-closed: it will send no more, it may still read."""

    end: End


@dataclass(slots=True, unsafe_hash=True)
class ConnectionLost:
    end: End
    reset: bool = False
    reason: str = ""


@dataclass(slots=True, unsafe_hash=True)
class WritePaused:
    """The relay's write buffer towards ``end`` went over its high-water mark."""

    end: End


@dataclass(slots=True, unsafe_hash=True)
class WriteResumed:
    end: End


@dataclass(slots=True, unsafe_hash=True)
class TimerFired:
    name: str


@dataclass(slots=True, unsafe_hash=True)
class SwitchRequested:
    by: str  # "operator", "signal", "detector:<name>", "blacklist" ...
    reason: str = ""


@dataclass(slots=True, unsafe_hash=True)
class AlertRaised:
    """An alert about this session from outside the inline path (external IDS...)."""

    score: float
    detector: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


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


@dataclass(slots=True, unsafe_hash=True)
class Connect:
    end: End


@dataclass(slots=True, unsafe_hash=True)
class Send:
    end: End
    data: bytes


@dataclass(slots=True, unsafe_hash=True)
class Shutdown:
    """Half-close our sending side towards ``end`` (write EOF)."""

    end: End


@dataclass(slots=True, unsafe_hash=True)
class Close:
    """Close ``end``; with ``reset`` it goes down with a TCP RST (SO_LINGER 0)."""

    end: End
    reset: bool = False


@dataclass(slots=True, unsafe_hash=True)
class PauseReading:
    end: End


@dataclass(slots=True, unsafe_hash=True)
class ResumeReading:
    end: End


@dataclass(slots=True, unsafe_hash=True)
class SetTimer:
    name: str
    delay: float


@dataclass(slots=True, unsafe_hash=True)
class CancelTimer:
    name: str


@dataclass(slots=True, unsafe_hash=True)
class Emit:
    """Record an event (see :mod:`honeyswitch.events`)."""

    event_type: str
    fields: dict[str, Any] = field(default_factory=dict)


Command = (
    Connect | Send | Shutdown | Close | PauseReading | ResumeReading | SetTimer | CancelTimer | Emit
)
