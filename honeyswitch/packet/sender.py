"""A small retransmitting sender for bytes honeyswitch must deliver itself.

Two streams need it.  Toward the honeypot, the client's bytes: the client retransmits
only what *main* did not acknowledge, so a copy the honeypot missed (its window was
full, a packet was lost) is honeyswitch's to resend.  Toward the client after a switch,
whatever the client may still lack that no live server will resend (main's unacknowledged
bytes under quiet alignment; the honeypot's bytes kept for bytes alignment, sent at once
rather than after the honeypot's backed-off timer).

Positions are stream positions (:mod:`.seq`).  The sender keeps the bytes from the
peer's acknowledgement (``una``) to the end of what was queued, sends within the peer's
window, retransmits the first missing segment on three duplicate ACKs, on a partial ACK
during recovery, and on its timer (with backoff).  It measures no RTT: its peers are a
link away, and the timer only covers losses.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .seq import cut

RTO_MIN = 0.2  # seconds, Linux's minimum
RTO_MAX = 10.0
GIVE_UP = 8  # timer expiries in a row without progress: the peer is gone


@dataclass(frozen=True, slots=True)
class Segment:
    pos: int
    data: bytes
    fin: bool = False


class Sender:
    def __init__(self, mss: int = 1400) -> None:
        self.mss = mss
        self.una = 0  # the peer has everything before this
        self.nxt = 0  # sent (by us, or by the copies we forwarded) up to here
        self.end = 0  # queued up to here
        self.window = 65535  # bytes the peer accepts from una on
        self.fin_queued = False
        self.fin_sent = False
        self.rto = RTO_MIN
        self.expiries = 0
        self._buf: deque[bytes] = deque()  # bytes [una, end)
        self._dupacks = 0
        self._recover = -1  # in loss recovery until una passes this

    # ------------------------------------------------------------------ queueing

    @property
    def backlog(self) -> int:
        """Bytes queued and not yet acknowledged."""
        return self.end - self.una

    @property
    def fin_acked(self) -> bool:
        return self.fin_sent and self.una > self.end

    @property
    def outstanding(self) -> bool:
        """Something is unacknowledged or unsent: the timer must run."""
        return self.una < self.end or (self.fin_queued and not self.fin_acked)

    def push(self, data: bytes) -> None:
        if data:
            self._buf.append(data)
            self.end += len(data)

    def close(self) -> None:
        self.fin_queued = True

    def start_at(self, pos: int) -> None:
        """Begin an empty stream at ``pos`` (before anything is pushed)."""
        self.una = self.nxt = self.end = pos

    def mark_sent(self, upto: int, fin: bool = False) -> None:
        """A copy we forwarded carried the stream up to ``upto`` (and its FIN)."""
        self.nxt = max(self.nxt, min(upto, self.end))
        if fin and self.fin_queued and upto >= self.end:
            self.fin_sent = True

    # ------------------------------------------------------------------- events

    def on_ack(self, pos: int, window: int) -> list[Segment]:
        """The peer acknowledged ``pos`` and offers ``window`` bytes; returns what to
        send now (a retransmission, and new bytes the window lets out)."""
        out: list[Segment] = []
        if pos > self.una:
            self._trim(min(pos, self.end))
            self.una = pos if pos <= self.end else self.end + (1 if self.fin_sent else 0)
            self.nxt = max(self.nxt, min(self.una, self.end))
            self._dupacks = 0
            self.rto = RTO_MIN
            self.expiries = 0
            if self.una <= self._recover and self.una < self.nxt:
                out.append(self._segment(self.una))  # partial ACK: the next hole
            elif self.una > self._recover:
                self._recover = -1
        elif pos == self.una and self.una < self.nxt:
            # A duplicate ACK (the window may move with it: the peer's reader drains while
            # it waits for the hole, so RFC 5681's same-window condition would miss it).
            self._dupacks += 1
            if self._dupacks == 3:
                self._recover = self.nxt
                out.append(self._segment(self.una))
        self.window = window
        out.extend(self.sendable())
        return out

    def on_timer(self) -> list[Segment]:
        """The retransmission timer fired: resend (or probe with) the first segment."""
        if not self.outstanding:
            return []
        self.expiries += 1
        self.rto = min(self.rto * 2, RTO_MAX)
        self._recover = self.nxt
        if self.una >= self.end:
            return [Segment(self.end, b"", fin=True)] if self.fin_queued else []
        return [self._segment(self.una)]

    @property
    def gave_up(self) -> bool:
        return self.expiries >= GIVE_UP

    def sendable(self) -> list[Segment]:
        """New segments the window allows, and the FIN once every byte is out."""
        out: list[Segment] = []
        limit = min(self.end, self.una + max(self.window, 0))
        while self.nxt < limit:
            seg = self._segment(self.nxt, limit)
            out.append(seg)
            self.nxt += len(seg.data)
        if self.fin_queued and not self.fin_sent and self.nxt >= self.end:
            self.fin_sent = True
            out.append(Segment(self.end, b"", fin=True))
        return out

    # ---------------------------------------------------------------- internals

    def _segment(self, pos: int, limit: int | None = None) -> Segment:
        stop = min(pos + self.mss, self.end if limit is None else limit)
        data = cut(self._buf, self.una, pos, stop)
        return Segment(pos, data, fin=self.fin_sent and stop >= self.end and bool(data))

    def _trim(self, pos: int) -> None:
        buf, at = self._buf, self.una
        while buf and at + len(buf[0]) <= pos:
            at += len(buf.popleft())
        if buf and at < pos:
            buf[0] = buf[0][pos - at:]
