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
"""
from __future__ import annotations

from collections import deque

from .divergence import HONEYPOT_SIDE, MAIN_SIDE, DivergenceFinder


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

    # ------------------------------------------------------------------ turns

    def client_spoke(self) -> None:
        self._main_awaits = self._honeypot_awaits = True

    def main_spoke(self) -> None:
        if self._main_awaits:
            self._main_awaits = False
            self.main_turns += 1

    def honeypot_spoke(self, at: float) -> None:
        paused = at > 0 and at - self._hp_last_at >= self.turn_gap
        if self._honeypot_awaits or (paused and self.honeypot_turns < self.main_turns):
            self._honeypot_awaits = False
            self.honeypot_turns += 1
        self._hp_last_at = at

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
