"""The policy hub: every decision above a single session, made in one place (sans-IO).

A session decides its own switch from its own score (the core).  Everything that spans
sessions is decided here, from events the daemon hands in:

- an ``alert`` event (from any detector, recorded already) adds to its source's decaying
  score and incident; the source crossing ``blacklist_threshold`` is blacklisted and its
  live sessions switched;
- a switched session blacklists its source (``[blacklist] on_switch``);
- an external IDS alert is matched to the live session it concerns (which then weighs
  it), or to a session that has just ended, or only to its source;
- the periodic tick closes idle incidents and saves the ones that changed;
- with ``[cluster]``, the other hosts' part of a source's score (``remote_score``) adds
  to this host's wherever it meets ``blacklist_threshold``, and each alert publishes
  this host's own part (``PublishShare``).

Each call returns :mod:`.decisions` for the daemon to carry out; nothing here does I/O,
and callers pass the time in, so the policy is tested as scripts of events.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..detect.base import Alert
from ..detect.ids import IdsAlert, SessionIndex
from ..events import build_event, make_event
from ..fleet.model import IncidentShare, SourceShare
from ..scoring.engine import Scoring
from ..scoring.incidents import Incident
from .decisions import (
    AlertSession,
    Decision,
    ListSource,
    PublishShare,
    Record,
    SaveIncident,
    SwitchClient,
)

ENDED_LINGER = 60.0  # seconds an ended session still takes IDS alerts (IDS latency, reordering)
Addr = tuple[str, int]
SessionFields = dict[str, Any]  # session_id, service, src_ip, src_port, dest_ip, dest_port


class Policy:
    """Scores, incidents, blacklisting and IDS matching for one relay process.

    ``listed`` tells whether a source is blacklisted already (so a source is listed once);
    ``owns_source`` whether this process speaks for a source that no session matches
    (with several workers each follows the IDS logs, and one records such an alert).
    """

    def __init__(self, config: Any, *, listed: Callable[[str], bool],
                 owns_source: Callable[[str | None], bool] = lambda ip: True) -> None:
        self.listed = listed
        self.owns_source = owns_source
        self.scoring = Scoring(config.detection.scoring, allowed=config.blacklist.allowed)
        self.shares = config.cluster is not None  # publish this host's part of each score
        self.reconfigure(config)
        self.index = SessionIndex()
        self._live: set[str] = set()
        # Sessions ended in the last ENDED_LINGER seconds, oldest first: their event
        # fields, so that a late IDS alert still names its session.
        self._ended: dict[str, tuple[float, SessionFields]] = {}
        self._legs: dict[str, list[tuple[Addr, Addr]]] = {}
        self._dirty: dict[str, Incident] = {}  # incidents changed since the last tick
        self.ids_counts: dict[str, dict[str, int]] = {}  # per IDS feed: matched, unmatched

    def reconfigure(self, config: Any) -> None:
        """Use a reloaded config's thresholds; scores and incidents so far are kept."""
        self.scoring.config = config.detection.scoring
        self.scoring.allowed = config.blacklist.allowed
        self.scoring.sources.half_life = self.scoring.remote.half_life = config.detection.scoring.half_life
        self.scoring.incidents.gap = config.detection.scoring.incident_gap
        self.on_switch = config.blacklist.on_switch
        self.follows_ids = bool(config.detection.ids)  # the session index serves IDS alerts only
        self.service_ports = {port for svc in config.services for _, port in svc.listen}

    # -------------------------------------------------------------- sessions

    def session_started(self, session: SessionFields) -> None:
        if self.follows_ids:
            sid = session["session_id"]
            self._live.add(sid)
            self.index.add(sid, (session["src_ip"], session["src_port"]), (session["dest_ip"], session["dest_port"]))

    def backend_opened(self, session: SessionFields, local: Addr, remote: Addr) -> None:
        """Index a backend leg too: an IDS watching main's side sees those addresses."""
        sid = session["session_id"]
        if not self.follows_ids or sid not in self._live:
            return
        legs = self._legs.setdefault(sid, [])
        legs.append((local, remote))
        self.index.add(sid, (session["src_ip"], session["src_port"]), (session["dest_ip"], session["dest_port"]),
                       legs=legs)

    def session_switched(self, session: SessionFields, by: str) -> list[Decision]:
        if not self.on_switch:
            return []
        return [ListSource(session["src_ip"], f"session {session['session_id']} switched ({by})", by)]

    def session_ended(self, session: SessionFields, now: float) -> None:
        if self.follows_ids:
            sid = session["session_id"]
            self._live.discard(sid)
            self._legs.pop(sid, None)
            self._ended[sid] = (now, session)

    # ---------------------------------------------------------------- alerts

    def alert(self, event: dict[str, Any], now: float) -> list[Decision]:
        """An ``alert`` event, recorded already: what it adds up to for its source."""
        found = self.scoring.on_alert(event, now)
        if found is None:
            return []
        out: list[Decision] = []
        if found.opened:
            out.append(SaveIncident(found.incident.as_dict()))
        else:
            # Saved by tick(), at most once a second: rewriting a growing incident on
            # every alert would make each alert dearer than the last (a flood's lever).
            self._dirty[found.incident.id] = found.incident
        for closed in found.closed:
            out.extend(self._closed(closed))
        if found.opened:
            out.append(Record(make_event("incident_open", None, src_ip=found.src_ip, incident_id=found.incident.id,
                                         source_score=round(found.source_score, 3))))
        if found.blacklist and not self.listed(found.src_ip):
            reason = f"source score {found.source_score:.0f} >= {self.scoring.config.blacklist_threshold:g}"
            # Its new sessions go straight to the honeypot; the ones still open follow.
            out += [ListSource(found.src_ip, reason, "scoring"), SwitchClient(found.src_ip, "blacklist", reason)]
        if self.shares:  # after the listing: the other hosts get the entry, then the share
            out.append(PublishShare(self.share(found.src_ip)))
        return out

    def remote_score(self, ip: str, score: float, at: float, now: float) -> list[Decision]:
        """The other hosts' part of ``ip``'s score is now ``score`` as of ``at``: what it
        adds up to here.  Taking the whole score to ``blacklist_threshold`` lists the
        source and switches its live sessions, as a local alert would; crossing it while
        the source is listed already (the entry came first) switches them."""
        before, after = self.scoring.remote_score(ip, score, at, now)
        threshold = self.scoring.config.blacklist_threshold
        if not threshold or after < threshold or self.scoring.allowed(ip) or not self.owns_source(ip):
            return []
        reason = f"source score {after:.0f} >= {threshold:g} (with other hosts')"
        if not self.listed(ip):
            return [ListSource(ip, reason, "scoring"), SwitchClient(ip, "blacklist", reason)]
        return [SwitchClient(ip, "blacklist", reason)] if before < threshold else []

    def share(self, ip: str) -> SourceShare:
        """This host's own part of ``ip``'s score, with its open incident's totals."""
        score, at = self.scoring.sources.pair(ip) or (0.0, 0.0)
        inc = self.scoring.incidents.get(ip)
        incident = None if inc is None else IncidentShare(
            inc.id, inc.started, inc.last, inc.alerts, inc.score, open_until=inc.last + self.scoring.incidents.gap)
        return SourceShare(ip, score, at, incident)

    def local_shares(self) -> list[SourceShare]:
        """This host's own part of every source it still scores (a resync republishes them)."""
        return [self.share(ip) for ip, _, _ in self.scoring.sources.pairs()]

    def ids_alert(self, feed: str, ids_alert: IdsAlert, alert: Alert, now: float) -> list[Decision]:
        """An alert line from the IDS feed ``feed``, scored as ``alert``."""
        counts = self.ids_counts.setdefault(feed, {"matched": 0, "unmatched": 0})
        details = {**alert.details, "ids": feed}
        fields = {**details, "detector": feed, "score": alert.score, "session_score": None,
                  "reason": alert.reason}
        out: list[Decision] = []
        for sid in self.index.match(ids_alert):
            if sid in self._live:
                out.append(AlertSession(sid, Alert(alert.score, feed, alert.reason, details)))
            elif (ended := self._ended.get(sid)) is not None:
                out += self._recorded_alert(build_event("alert", ended[1], fields), now)  # too late to switch
        if out:
            counts["matched"] += 1
            return out
        counts["unmatched"] += 1
        ip = self._client_ip(ids_alert)
        if not self.owns_source(ip):
            return []
        return self._recorded_alert(make_event("alert", None, src_ip=ip, **fields), now)

    def _recorded_alert(self, event: dict[str, Any], now: float) -> list[Decision]:
        return [Record(event), *self.alert(event, now)]

    def _client_ip(self, a: IdsAlert) -> str | None:
        """The client's address; fast.log lines do not say which side the client is, so
        a packet from one of our service ports is a reply, and its destination the client."""
        if a.client is not None:
            return a.client[0]
        return a.dest_ip if a.src_port in self.service_ports else a.src_ip

    # ----------------------------------------------------------------- upkeep

    def tick(self, now: float) -> list[Decision]:
        """Once a second: forget long-ended sessions, close idle incidents, save changed ones."""
        while self._ended:
            sid, (ended, _) = next(iter(self._ended.items()))
            if now - ended <= ENDED_LINGER:
                break  # in end order: the rest are younger
            del self._ended[sid]
            self.index.remove(sid)
        out: list[Decision] = []
        for incident in self.scoring.tick(now):
            out.extend(self._closed(incident))
        dirty, self._dirty = self._dirty, {}
        out.extend(SaveIncident(incident.as_dict()) for incident in dirty.values())
        return out

    def _closed(self, incident: Incident) -> list[Decision]:
        self._dirty.pop(incident.id, None)
        return [SaveIncident(incident.as_dict()), Record(make_event(
            "incident_close", None, src_ip=incident.src_ip, incident_id=incident.id, alerts=incident.alerts,
            score=round(incident.score, 3), services=sorted(incident.services),
            duration=round(incident.last - incident.started, 3)))]

    # ---------------------------------------------------------------- queries

    def source_score_of(self, src_ip: str, clock: Callable[[], float]) -> Callable[[], float] | None:
        """What a session of ``src_ip`` asks when a detector alerts: its source's decayed
        score now (None: source switching is off; 0 for an address on the allowlist,
        which is never blacklisted)."""
        scoring = self.scoring
        if not scoring.config.source_switch or not scoring.config.blacklist_threshold:
            return None

        def score() -> float:  # asked only when an alert falls short of the session threshold
            return 0.0 if scoring.allowed(src_ip) else scoring.score(src_ip, clock())
        return score

    @property
    def source_threshold(self) -> float:
        return self.scoring.config.blacklist_threshold

    def source_scores(self, now: float, limit: int = 50) -> list[dict[str, Any]]:
        """The highest whole scores: ``score`` is this process's own part, ``remote`` the
        other hosts' (present with [cluster])."""
        if not self.shares:
            return [{"src_ip": ip, "score": round(score, 3)} for ip, score in self.scoring.sources.items(now)[:limit]]
        s = self.scoring
        ips = {ip for ip, _, _ in s.sources.pairs()} | {ip for ip, _, _ in s.remote.pairs()}
        top = sorted(ips, key=lambda ip: s.score(ip, now), reverse=True)[:limit]
        return [{"src_ip": ip, "score": round(s.sources.get(ip, now), 3), "remote": round(s.remote.get(ip, now), 3)}
                for ip in top]
