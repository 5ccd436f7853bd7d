"""The control operations, each declared once: name, arguments, route, result.

An operation has up to two parts:

- ``each``: what every relay process answers, given the narrow :class:`RelayPort` of
  that process.  A single daemon answers alone; a supervisor asks each of its workers
  over their channel, and the worker dispatches into the same declaration by name.
  ``join`` makes the answers one (sessions listed together, scores added up, ...).
- ``answer``: what the process that holds the records (the single daemon, or the
  supervisor) makes of that, with the store and the blacklist of its
  :class:`ControlPort`.  It returns the operation's result, the JSON body of its route.

Either part may be a coroutine function (the cluster's operations wait for Redis):
:func:`perform` awaits whatever it returns that is awaitable, and so does a worker
answering its supervisor.  ``any_one`` says one relay process's answer is enough (every
worker sees the whole cluster the same way): the supervisor asks one live worker.

The HTTP server (:mod:`.server`) serves every operation that has a route, and the CLI's
client (:mod:`.client`) calls them by name, so adding an operation is one declaration
here.  Arguments are parsed the same way for all of them; a bad one is a 400 whose message
names it.
"""
from __future__ import annotations

import inspect
import ipaddress
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import __version__

if TYPE_CHECKING:
    from ..config import Config
    from ..store.blacklist import Blacklist
    from ..store.db import Store

Listener = Callable[[dict[str, Any]], None]
REQUIRED: Any = object()


# ------------------------------------------------------------------ the ports


class RelayPort(Protocol):
    """What an operation may ask of one relay process."""

    def live_sessions(self) -> list[dict[str, Any]]: ...
    def live_session(self, session_id: str) -> dict[str, Any] | None: ...
    def switch_session(self, session_id: str, by: str, reason: str) -> bool | None: ...
    def switch_client(self, ip: str, by: str, reason: str) -> list[str]: ...
    def relay_health(self) -> dict[str, Any]: ...
    def source_scores(self, limit: int) -> list[dict[str, Any]]: ...
    def ids_status(self) -> dict[str, Any]: ...
    def metrics_snapshot(self) -> dict[str, Any]: ...
    # [cluster] (None without it): every host's sessions; a switch on whichever host
    # holds the session (or on every host, for a client); a blacklist change made by
    # the records side (the API), published to the other hosts.
    async def cluster_sessions(self) -> dict[str, Any] | None: ...
    async def cluster_switch(self, session_id: str | None, client: str | None,
                             reason: str) -> list[dict[str, Any]] | None: ...
    def cluster_publish(self, change: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """One relay process's answer: ``worker`` is its index, None for a daemon without workers."""

    worker: int | None
    value: Any


class ControlPort(Protocol):
    """What the control API needs of the process that serves it."""

    @property
    def config(self) -> Config:
        """The running config (the dashboard's views read the transcripts directory)."""
        ...
    @property
    def store(self) -> Store | None: ...
    @property
    def blacklist(self) -> Blacklist | None: ...
    @property
    def workers(self) -> int: ...

    async def ask_relays(self, name: str, args: dict[str, Any], any_one: bool = False) -> list[Answer]:
        """Every relay process's answer to operation ``name`` (those that answered), or
        the first one's with ``any_one``."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Receive every event from now on; returns the unsubscribe function."""
        ...

    def cluster_events(self, since: str) -> AsyncIterator[dict[str, Any]] | None:
        """Every host's events from the cluster's stream ([cluster]; None without it)."""
        ...


# ------------------------------------------------------------------ errors


class OpError(Exception):
    """An operation refused, with the HTTP status that says why."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadArgument(OpError):
    status = 400


class NotFound(OpError):
    status = 404


class Conflict(OpError):
    status = 409


class Unavailable(OpError):
    status = 503


# ------------------------------------------------------------------ arguments


@dataclass(frozen=True, slots=True)
class Arg:
    name: str
    parse: Callable[[Any], Any]  # raises ValueError with the reason
    where: str = "body"  # "path" | "query" | "body"
    default: Any = REQUIRED


def text(limit: int = 1000) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"must be a string of at most {limit} characters")
        return value
    return parse


def ip_address(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise ValueError("not an IP address") from None


def seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a number of seconds >= 0")
    return float(value)


def limit(value: Any) -> int:
    try:
        return max(1, min(int(value), 10000))
    except (TypeError, ValueError):
        raise ValueError("must be an integer") from None


def optional_text(value: Any) -> str | None:
    return None if value is None else text(200)(value)


SESSION_ID = Arg("id", text(64), "path")
REASON = Arg("reason", text(), default="control API")
LIMIT = Arg("limit", limit, "query", default=100)


# ------------------------------------------------------------------ declaration


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    doc: str
    method: str = "GET"
    path: str | None = None  # its route on the control API (None: asked internally only)
    args: tuple[Arg, ...] = ()
    each: Callable[..., Any] | None = None  # each(relay, **args), maybe a coroutine
    join: Callable[..., Any] | None = None  # join(answers, **args); default: the answers' values
    answer: Callable[..., Any] | None = None  # answer(control, joined, **args) -> result, maybe a coroutine
    any_one: bool = False  # one relay process's answer is enough

    def parse(self, given: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The arguments from ``given[where]``, parsed; raises BadArgument."""
        out: dict[str, Any] = {}
        for arg in self.args:
            source = given.get(arg.where, {})
            if arg.name not in source:
                if arg.default is REQUIRED:
                    raise BadArgument(f"{arg.name} is required")
                out[arg.name] = arg.default
                continue
            try:
                out[arg.name] = arg.parse(source[arg.name])
            except ValueError as e:
                raise BadArgument(f"{arg.name}: {e}") from None
        return out


OPERATIONS: dict[str, Operation] = {}


def operation(op: Operation) -> Operation:
    if op.name in OPERATIONS:
        raise ValueError(f"operation {op.name!r} declared twice")
    OPERATIONS[op.name] = op
    return op


def relay_operation(name: str) -> Operation:
    """The operation a worker's channel was asked for; raises ValueError if it has no relay part."""
    op = OPERATIONS.get(name)
    if op is None or op.each is None:
        raise ValueError(f"unknown op {name!r}")
    return op


async def settle(value: Any) -> Any:
    """The value of a part of an operation, awaited if it is a coroutine's."""
    return await value if inspect.isawaitable(value) else value


async def answer_each(relay: RelayPort, name: str, args: dict[str, Any]) -> Any:
    """This relay process's part of operation ``name`` (raises ValueError if it has none)."""
    op = relay_operation(name)
    assert op.each is not None
    return await settle(op.each(relay, **args))


async def perform(control: ControlPort, name: str, args: dict[str, Any]) -> Any:
    """Run operation ``name`` with parsed ``args``; raises OpError."""
    op = OPERATIONS[name]
    joined: Any = None
    if op.each is not None:
        answers = await control.ask_relays(name, args, any_one=op.any_one)
        joined = op.join(answers, **args) if op.join is not None else [a.value for a in answers]
    if op.answer is None:
        return joined
    return await settle(op.answer(control, joined, **args))


# ------------------------------------------------------------------ joins


def _with_worker(row: dict[str, Any], answer: Answer) -> dict[str, Any]:
    return row if answer.worker is None else {**row, "worker": answer.worker}


def _listed(answers: list[Answer], **_: Any) -> list[Any]:
    return [_with_worker(row, a) if isinstance(row, dict) else row for a in answers for row in a.value]


def _first(answers: list[Answer], **_: Any) -> Any:
    for a in answers:
        if a.value is not None:
            return _with_worker(a.value, a) if isinstance(a.value, dict) else a.value
    return None


def _one(answers: list[Answer], **_: Any) -> Any:
    """The answer of an ``any_one`` operation (None if no relay process answered)."""
    return answers[0].value if answers else None


def _health(answers: list[Answer], **_: Any) -> dict[str, Any]:
    counters: Counter[str] = Counter()
    for a in answers:
        counters.update(a.value.get("counters") or {})
    out = {"sessions": sum(int(a.value.get("sessions", 0)) for a in answers), "counters": dict(counters),
           "workers_up": len(answers)}
    nodes = [a.value["cluster"] for a in answers if a.value.get("cluster")]
    if nodes:
        out["cluster"] = _cluster_health(nodes)
    return out


def _cluster_health(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Every relay process's contact with the cluster's Redis (one node each) as one."""
    states = {n.get("state") for n in nodes}
    state = "up" if states == {"up"} else "down" if "down" in states else "connecting"
    return {"state": state, "redis": nodes[0].get("redis"), "outbox": sum(int(n.get("outbox") or 0) for n in nodes),
            "outbox_dropped": sum(int(n.get("outbox_dropped") or 0) for n in nodes),
            "nodes": {str(n.get("node")): n for n in nodes}}


def _sources(answers: list[Answer], limit: int = 50, **_: Any) -> list[dict[str, Any]]:
    """Scores added up over the relay processes.  With [cluster] each row also names its
    process's node and the other nodes' parts (``nodes``): those of nodes that answered
    here are in ``score`` already, the rest are the other hosts'."""
    local: dict[str, float] = {}
    others: dict[str, dict[str, float]] = {}
    incidents: dict[str, Any] = {}
    answered: set[str] = set()
    for a in answers:
        for row in a.value:
            ip = row["src_ip"]
            local[ip] = local.get(ip, 0.0) + float(row["score"])
            if "nodes" in row:
                answered.add(row["node"])
                others.setdefault(ip, {}).update(row["nodes"])
                incidents[ip] = incidents.get(ip) or row.get("incident")
    if not answered:
        ranked = sorted(local.items(), key=lambda kv: -kv[1])[:limit]
        return [{"src_ip": ip, "score": round(score, 3)} for ip, score in ranked]
    rows: list[dict[str, Any]] = []
    for ip, own in local.items():
        nodes = {n: round(v, 3) for n, v in others.get(ip, {}).items() if n not in answered}
        rows.append({"src_ip": ip, "score": round(own + sum(nodes.values()), 3), "local": round(own, 3),
                     "nodes": nodes, "incident": incidents.get(ip)})
    return sorted(rows, key=lambda r: -float(r["score"]))[:limit]


def _ids(answers: list[Answer], **_: Any) -> dict[str, Any]:
    if len(answers) == 1 and answers[0].worker is None:
        return dict(answers[0].value)
    merged: dict[str, Any] = {}
    for a in answers:
        for name, stats in a.value.items():
            entry = merged.setdefault(name, {**stats, "workers": {}})
            entry["workers"][str(a.worker)] = stats
    return merged


def _metrics(answers: list[Answer], **_: Any) -> dict[str, Any]:
    from ..fleet.metrics import add
    from ..record.tally import merge_snapshots

    parts = [dict(a.value) for a in answers]
    nodes = [part.pop("cluster") for part in parts if "cluster" in part]
    out = merge_snapshots(parts)
    if nodes:
        out["cluster"] = add(nodes)
    return out


# ------------------------------------------------------------------ answers


def _keyed(key: str) -> Callable[..., dict[str, Any]]:
    def answer(control: ControlPort, joined: Any, **_: Any) -> dict[str, Any]:
        return {key: joined}
    return answer


def _store(control: ControlPort) -> Store:
    if control.store is None:
        raise Unavailable("the daemon is starting or stopping")
    return control.store


def _blacklist(control: ControlPort) -> Blacklist:
    if control.blacklist is None:
        raise Unavailable("the daemon is starting or stopping")
    return control.blacklist


def _health_answer(control: ControlPort, joined: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, **joined, "workers": control.workers,
            "blacklist_threshold": control.config.detection.scoring.blacklist_threshold}


def _session_answer(control: ControlPort, live: dict[str, Any] | None, id: str) -> dict[str, Any]:
    if live is not None:
        return {"session": live, "live": True}
    row = _store(control).session(id)
    if row is None:
        raise NotFound(f"no session {id!r}")
    return {"session": row, "live": False}


async def _switched(control: ControlPort, ok: bool | None, id: str, reason: str) -> dict[str, Any]:
    if ok is None and control.config.cluster is not None:  # not here: on the host that holds it
        found = await perform(control, "cluster_switch", {"session_id": id, "client": None, "reason": reason})
        return _switched_elsewhere(id, found or [])
    if ok is None:
        raise NotFound(f"no live session {id!r}")
    if not ok:
        raise Conflict(f"session {id!r} cannot be switched (no honeypot)")
    return {"switched": [id]}


def _switched_elsewhere(id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the host that holds session ``id`` answered (SwitchResult dicts)."""
    for r in results:
        if r["status"] == "switched":
            return {"switched": r["sessions"], "host": r["node"]}
    last = results[-1] if results else {"status": "not_found", "node": "", "detail": ""}
    status, where = last["status"], f" on {last['node']}" if last["node"] not in ("", "*") else ""
    if status == "not_found":
        raise NotFound(f"no live session {id!r} on any host")
    if status == "no_honeypot":
        raise Conflict(f"session {id!r}{where} cannot be switched (no honeypot)")
    detail = f" ({last['detail']})" if last.get("detail") else ""
    raise Unavailable(f"session {id!r}{where}: {status}{detail}")


async def _client_switched(control: ControlPort, local: list[str], client: str, reason: str) -> dict[str, Any]:
    if control.config.cluster is None:
        return {"switched": local}
    results = await perform(control, "cluster_switch", {"session_id": None, "client": client, "reason": reason})
    ids = [*local, *(sid for r in results or () for sid in r["sessions"])]
    return {"switched": list(dict.fromkeys(ids)), "hosts": {r["node"]: r["status"] for r in results or ()}}


async def _publish(control: ControlPort, change: dict[str, Any]) -> None:
    """A blacklist change made here, for the other hosts ([cluster]; one relay process sends it)."""
    if control.config.cluster is not None:
        await perform(control, "cluster_publish", {"change": change})


async def _blacklist_add(control: ControlPort, _: None, ip: str, ttl: float | None, reason: str) -> dict[str, Any]:
    entry = _blacklist(control).add(ip, reason=reason, by="operator", ttl=ttl)
    if entry is None:
        raise Conflict(f"{ip} is on the allowlist")
    await _publish(control, {"add": entry, "at": time.time()})
    return {"added": entry}


async def _blacklist_remove(control: ControlPort, _: None, ip: str) -> dict[str, Any]:
    if not _blacklist(control).remove(ip, by="operator"):
        raise NotFound(f"{ip} is not blacklisted")
    await _publish(control, {"remove": ip, "by": "operator", "at": time.time()})
    return {"removed": ip}


def _cluster_sessions(control: ControlPort, view: dict[str, Any] | None) -> dict[str, Any]:
    """Every host's sessions; ``host`` is the host's name, ``node`` its process's
    (``host/wN`` for worker N, whose index is ``worker`` too)."""
    if view is None:
        if control.config.cluster is None:
            raise Conflict("no [cluster] in the config (GET /api/v1/sessions lists this host's)")
        raise Unavailable("no relay process answered")
    sessions = []
    for s in view["sessions"]:
        node = str(s.get("host", ""))
        host, _, worker = node.partition("/")
        extra = {"worker": int(worker[1:])} if worker[1:].isdigit() else {}
        sessions.append({**s, "host": host, "node": node, **extra})
    return {**view, "sessions": sessions}


def _events(control: ControlPort, _: None, limit: int, session_id: str | None,
            event_type: str | None) -> dict[str, Any]:
    return {"events": _store(control).events(session_id=session_id, event_type=event_type, limit=limit)}


def _alerts(control: ControlPort, _: None, limit: int, session_id: str | None, src_ip: str | None) -> dict[str, Any]:
    rows = _store(control).events(session_id=session_id, event_type="alert", src_ip=src_ip, limit=limit)
    return {"alerts": rows}


def minutes(value: Any) -> int:
    try:
        return max(1, min(int(value), 24 * 60))
    except (TypeError, ValueError):
        raise ValueError("must be an integer") from None


def _alert_rate(control: ControlPort, _: None, minutes: int) -> dict[str, Any]:
    return {"minutes": _store(control).alerts_per_minute(minutes, time.time())}


def _incidents(control: ControlPort, _: None, limit: int, src_ip: str | None) -> dict[str, Any]:
    return {"incidents": _store(control).incidents(limit=limit, src_ip=src_ip)}


# ------------------------------------------------------------------ the operations

_QUERY_SESSION = Arg("session_id", optional_text, "query", default=None)
_QUERY_SOURCE = Arg("src_ip", optional_text, "query", default=None)

operation(Operation(
    "health", "version, live session count, counters, workers (and how many answered)",
    path="/api/v1/health", each=lambda relay: relay.relay_health(), join=_health, answer=_health_answer))
operation(Operation(
    "sessions", "live sessions (with their `worker` when there are several)",
    path="/api/v1/sessions", each=lambda relay: relay.live_sessions(), join=_listed, answer=_keyed("sessions")))
operation(Operation(
    "session", "one session, live or from the store",
    path="/api/v1/sessions/{id}", args=(SESSION_ID,),
    each=lambda relay, id: relay.live_session(id), join=_first, answer=_session_answer))
operation(Operation(
    "switch_session", 'switch it (`{"reason": "..."}`); 409 without a honeypot; with [cluster] on '
    "whichever host holds it",
    method="POST", path="/api/v1/sessions/{id}/switch", args=(SESSION_ID, REASON),
    each=lambda relay, id, reason: relay.switch_session(id, "operator", reason), join=_first, answer=_switched))
operation(Operation(
    "switch_client", '`{"client": "IP"}`: switch every live session of that address (with [cluster], on '
    "every host: `hosts` has each one's answer)",
    method="POST", path="/api/v1/switch", args=(Arg("client", ip_address), REASON),
    each=lambda relay, client, reason: relay.switch_client(client, "operator", reason), join=_listed,
    answer=_client_switched))
operation(Operation(
    "blacklist", "entries", path="/api/v1/blacklist",
    answer=lambda control, _: {"blacklist": _blacklist(control).entries()}))
operation(Operation(
    "blacklist_add", '`{"ip": "...", "ttl": 600, "reason": "..."}`; 409 if allowlisted',
    method="POST", path="/api/v1/blacklist",
    args=(Arg("ip", ip_address), Arg("ttl", seconds, default=None), Arg("reason", text(), default="operator")),
    answer=_blacklist_add))
operation(Operation(
    "blacklist_remove", "remove", method="DELETE", path="/api/v1/blacklist/{ip}",
    args=(Arg("ip", ip_address, "path"),), answer=_blacklist_remove))
operation(Operation(
    "events", "`?session_id=&event_type=&limit=` from the store", path="/api/v1/events",
    args=(LIMIT, _QUERY_SESSION, Arg("event_type", optional_text, "query", default=None)), answer=_events))
operation(Operation(
    "alerts", "`?session_id=&src_ip=&limit=`", path="/api/v1/alerts",
    args=(LIMIT, _QUERY_SESSION, _QUERY_SOURCE), answer=_alerts))
operation(Operation(
    "alerts_per_minute", "`?minutes=60`: alert counts per UTC minute, oldest first",
    path="/api/v1/alerts/per-minute", args=(Arg("minutes", minutes, "query", default=60),), answer=_alert_rate))
operation(Operation(
    "incidents", "`?src_ip=&limit=`", path="/api/v1/incidents", args=(LIMIT, _QUERY_SOURCE), answer=_incidents))
operation(Operation(
    "sources", "live decayed source scores", path="/api/v1/sources", args=(LIMIT,),
    each=lambda relay, limit: relay.source_scores(limit), join=_sources, answer=_keyed("sources")))
operation(Operation(
    "ids", "per IDS source: lines, alerts, malformed, rotations, matched", path="/api/v1/ids",
    each=lambda relay: relay.ids_status(), join=_ids, answer=_keyed("ids")))
operation(Operation(
    "metrics", "the live figures /metrics shows, added up over the relay processes",
    each=lambda relay: relay.metrics_snapshot(), join=_metrics))
operation(Operation(
    "cluster_sessions", "[cluster]: every host's live sessions, each with its `host` (and `node`), "
    "and each host's status (`hosts`)",
    path="/api/v1/cluster/sessions", each=lambda relay: relay.cluster_sessions(), join=_one,
    answer=_cluster_sessions, any_one=True))
operation(Operation(  # asked by switch_session and switch_client
    "cluster_switch", "[cluster]: a switch on the host that holds the session, or on every host for a client",
    each=lambda relay, session_id, client, reason: relay.cluster_switch(session_id, client, reason),
    join=_one, any_one=True))
operation(Operation(  # asked by blacklist_add and blacklist_remove
    "cluster_publish", "[cluster]: a blacklist change made by the API, sent to the other hosts",
    each=lambda relay, change: relay.cluster_publish(change), join=_one, any_one=True))
