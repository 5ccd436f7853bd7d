"""Catching up on the blacklist after an outage (sans-IO).

At every (re)connect the component has three views of the blacklist: the daemon's
(``local``), Redis's (``snapshot``, taken after this host's waiting decisions were
sent), and what it last knew Redis to hold (``known``).  :func:`reconcile` turns them
into a plan:

- an address in Redis that outlasts the local entry (or that is not listed here) is
  applied locally;
- a local entry that outlasts Redis's is published (Redis merges: expiries never get
  earlier, a later removal wins over an earlier add);
- a local entry missing from Redis that Redis *used* to hold was removed (or expired)
  by the cluster meanwhile: it is removed here;
- a local entry Redis never held (listed before this component started, or while
  Redis was down and the outbox overflowed) is published.

Addresses with a decision still waiting in the outbox are left alone: that decision is
newer than anything in the snapshot and will reach Redis next.  After Redis lost its
data (a new epoch), ``known`` is empty, so everything local is published again.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .model import BlacklistEntry


@dataclass(slots=True)
class Plan:
    apply: list[BlacklistEntry] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    publish: list[BlacklistEntry] = field(default_factory=list)


def reconcile(local: Mapping[str, BlacklistEntry], snapshot: Mapping[str, BlacklistEntry],
              known: Iterable[str], pending: Callable[[str], bool]) -> Plan:
    plan = Plan()
    known = set(known)
    for ip in local.keys() | snapshot.keys():
        if pending(ip):
            continue
        here, there = local.get(ip), snapshot.get(ip)
        if there is not None and (here is None or there.outlives(here)):
            plan.apply.append(there)
        elif here is not None and there is None:
            if ip in known:
                plan.remove.append(ip)
            else:
                plan.publish.append(here)
        elif here is not None and there is not None and here.outlives(there):
            plan.publish.append(here)
    for entries in (plan.apply, plan.publish):
        entries.sort(key=lambda e: (e.added, e.ip))
    plan.remove.sort()
    return plan
