"""What a mirrored session knows about main's and the honeypot's reply streams.

The session core uses it to hand over at a switch:

- **bytes alignment** keeps the honeypot's output beyond what main has delivered to the
  client (``ahead``, bounded), so the honeypot can continue the client's stream exactly
  where main left it;
- **divergence**: while both should reply byte for byte alike, the first difference is
  found (:mod:`.divergence`), after which only quiet alignment is safe;
- **reply turns**, for quiet alignment: a backend's output after client bytes (or its
  first output, a greeting) starts a turn.  A honeypot that has taken fewer turns than
  main still owes replies, however quiet it is for the moment.  A backlogged honeypot
  answers several requests in a row: each answer after a pause of its own (a tenth of
  ``quiet_time``) counts as a turn too, while it owes any.

  While the two streams are compared byte for byte (:attr:`by_position`), the
  honeypot's turns are counted by position instead: a turn of main's starts at a known
  offset of main's stream, and the honeypot has taken it once it has produced the byte
  at that offset.  That holds however the honeypot's output is cut into chunks or
  delayed, which is what lets the relay batch the honeypot's copy of the client's bytes
  (:attr:`honeyswitch.core.session.Session.defer_honeypot`): several answers read at
  once are several turns.  When the comparison stops (the streams differ, or one ran
  too far ahead), counting goes on by timing from the turns counted so far.
"""
from __future__ import annotations

from collections import deque

from .divergence import HONEYPOT_SIDE, MAIN_SIDE, DivergenceFinder

# Turns of main the honeypot may be behind while they are counted by position; past it
# counting goes by timing (and the relay stops batching the honeypot's bytes).
MAX_TURNS_BEHIND = 4096


class ReplyStreams:
    def __init__(self, limit: int, quiet_time: float, *, compare: bool) -> None:
        self.limit = limit  # bytes the honeypot may run ahead (and be compared over)
        self.turn_gap = quiet_time / 10
        self.aligned = True  # False: bytes alignment is no longer possible
        self._ahead: deque[bytes] = deque()
        self._ahead_start = 0  # stream position of the first byte in _ahead
        self._ahead_len = 0
        self.main_turns = 0
        self.honeypot_turns = 0
        self._main_awaits = self._honeypot_awaits = True
        self._hp_last_at = 0.0
        self.divergence = DivergenceFinder(limit) if compare else None
        # While comparing: the stream offsets where main's turns start that the
        # honeypot has not reached yet, and how far the honeypot's stream has come.
        self._turn_starts: deque[int] | None = deque() if compare else None
        self._hp_end = 0

    # ------------------------------------------------------------------ turns

    def client_spoke(self) -> None:
        self._main_awaits = self._honeypot_awaits = True

    def main_spoke(self, position: int = 0) -> None:
        """Main's output from its stream offset ``position`` on."""
        if self._main_awaits:
            self._main_awaits = False
            self.main_turns += 1
            starts = self._turn_starts
            if starts is not None:
                if position < self._hp_end:
                    self.honeypot_turns += 1  # the honeypot is there already
                elif len(starts) < MAX_TURNS_BEHIND:
                    starts.append(position)
                else:
                    self._turn_starts = None  # too far behind: by timing from here

    def honeypot_spoke(self, at: float, end: int = 0) -> None:
        """The honeypot's output at monotonic time ``at``, up to its stream offset ``end``."""
        starts = self._turn_starts
        if starts is not None and self.divergence is not None:
            self._hp_end = end
            while starts and starts[0] < end:
                starts.popleft()
                self.honeypot_turns += 1
            self._honeypot_awaits = False
            self._hp_last_at = at
            return
        self._turn_starts = None
        paused = at > 0 and at - self._hp_last_at >= self.turn_gap
        if self._honeypot_awaits or (paused and self.honeypot_turns < self.main_turns):
            self._honeypot_awaits = False
            self.honeypot_turns += 1
        self._hp_last_at = at

    @property
    def by_position(self) -> bool:
        """Whether turns are counted by position (the streams are compared byte for
        byte): the honeypot's output may then come late and in any chunks."""
        return self._turn_starts is not None and self.divergence is not None

    @property
    def honeypot_owes(self) -> bool:
        return self.honeypot_turns < self.main_turns

    # ------------------------------------------------------------ mirrored bytes

    def main_delivered(self, data: bytes, main_sent: int) -> tuple[int, bytes, bytes] | None:
        """Main's ``data`` reached the client, which now has ``main_sent`` bytes of it.
        Returns the first divergence, if this reveals it."""
        if self._ahead:
            self._trim(main_sent)
        return self._compare(MAIN_SIDE, data)

    def honeypot_output(self, data: bytes, start: int, main_sent: int) -> tuple[int, bytes, bytes] | None:
        """The honeypot produced ``data`` at stream position ``start`` while mirrored."""
        found = self._compare(HONEYPOT_SIDE, data)
        if self.aligned and start + len(data) > main_sent:
            self._keep(start, data, main_sent)
        return found

    def take_ahead(self) -> bytes:
        """The honeypot's output beyond main's position, for the cut-over."""
        joined = b"".join(self._ahead)
        self.forget()
        return joined

    def forget(self) -> None:
        self._ahead.clear()
        self._ahead_len = 0

    def _keep(self, start: int, data: bytes, main_sent: int) -> None:
        if not self._ahead:
            self._ahead_start = max(start, main_sent)
            if start < main_sent:
                data = data[main_sent - start :]
        self._ahead.append(data)
        self._ahead_len += len(data)
        if self._ahead_len > self.limit:
            # Too far ahead of main to line up byte for byte: quiet alignment instead.
            self.aligned = False
            self.forget()

    def _trim(self, main_sent: int) -> None:
        ahead = self._ahead
        while ahead and self._ahead_start + len(ahead[0]) <= main_sent:
            first = ahead.popleft()
            self._ahead_start += len(first)
            self._ahead_len -= len(first)
        if ahead and self._ahead_start < main_sent:
            cut = main_sent - self._ahead_start
            ahead[0] = ahead[0][cut:]
            self._ahead_start += cut
            self._ahead_len -= cut

    def _compare(self, side: int, data: bytes) -> tuple[int, bytes, bytes] | None:
        finder = self.divergence
        if finder is None:
            return None
        found = finder.feed(side, data)
        if not finder.active:
            self.divergence = None
        if found is not None:
            self.aligned = False
            self.forget()
        return found
