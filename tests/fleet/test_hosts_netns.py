"""Several hosts, one defence, with real processes: two and three ``honeyswitch run``
daemons, each in its own network namespace protecting its own line service, one real
redis-server in another, and clients in a fourth (see hostlab.py for the addresses,
all in 198.18.48.0/21).  The tests drive them as an operator would: connections from
the clients, the control API with curl and the CLI, each inside its host's namespace.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hostlab import HS, Host, Site, ask, client_ip, wait

from honeyswitch.testing import netns, require

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Callable[[list[str]], Site]]:
    require.root()
    for program in ("ip", "nsenter", "curl", "redis-server"):
        require.program(program)
    lab = netns.Lab("fl")
    try:
        yield lambda names: Site(lab, tmp_path, names)
    finally:
        lab.close()


def remote_part(host: Host, ip: str) -> dict[str, float]:
    """The other hosts' parts of ``ip``'s score, as ``host``'s API shows them."""
    for row in host.get("/api/v1/sources")["sources"]:
        if row["src_ip"] == ip:
            return dict(row.get("nodes") or {})
    return {}


def recorded(host: Host, event_type: str, **match: Any) -> dict[str, Any]:
    """The first such event in the host's event log (written by its writer thread)."""
    found: list[dict[str, Any]] = []

    def look() -> bool:
        found[:] = [e for e in host.events(event_type) if all(e.get(k) == v for k, v in match.items())]
        return bool(found)
    wait(look, 5, f"{host.name}: {event_type} {match}", step=0.05)
    return found[0]


def test_a_source_blacklisted_on_one_is_sent_to_the_honeypot_by_the_other_within_a_second(site: Any) -> None:
    s = site(["a", "b"])
    a, b = s.start("a"), s.start("b")
    s.all_up()
    attacker, user = client_ip(2), client_ip(3)
    assert b.served_by(s.client, attacker) == "main-b"
    with a.connect(s.client, attacker) as sock:
        assert ask(sock, "hello").startswith("main-a ")
        # Its source's score crosses the threshold: this very request goes to a's honeypot,
        # and a lists the source.
        assert ask(sock, "ATTACK-500 dump everything").startswith("honeypot-a ")
    took = wait(lambda: b.served_by(s.client, attacker) == "honeypot-b", 5, "b sends the attacker to its honeypot")
    assert took < 1.0
    assert b.served_by(s.client, user) == "main-b"  # nobody else
    entry = recorded(b, "blacklist_add", ip=attacker)
    assert entry["origin"] == "a" and entry["by"].endswith("@a")  # who listed it there, at which host
    assert recorded(a, "blacklist_add", ip=attacker)["origin"] is None  # a's own decision


def test_three_hosts_add_up_scores_and_switch_each_others_sessions(site: Any) -> None:
    s = site(["a", "b", "c"])
    a, b = s.start("a"), s.start("b")
    c = s.start("c", workers=2)  # a host with worker processes: each is a node, c/w0 and c/w1
    s.all_up()
    attacker = client_ip(5)
    # 60 on a, then 60 on b: neither alone reaches the threshold of 100, together they do.
    with a.connect(s.client, attacker) as sock:
        assert ask(sock, "ATTACK-60 probe").startswith("main-a ")
    wait(lambda: remote_part(b, attacker).get("a", 0) > 59, 5, "b knows a's part")
    with b.connect(s.client, attacker) as sock:
        assert ask(sock, "ATTACK-60 probe again").startswith("honeypot-b ")  # 120: switched inline
    assert recorded(b, "blacklist_add", ip=attacker)["by"] == "scoring"
    for host in (a, c):
        wait(lambda host=host: host.served_by(s.client, attacker) == f"honeypot-{host.name}", 5,
             f"{host.name} follows")
    for host in (a, c):  # one blacklisting, b's: the others follow it
        recorded(host, "blacklist_add", ip=attacker)
        assert {e["origin"] for e in host.events("blacklist_add") if e["ip"] == attacker} == {"b"}

    # A switch asked of a (its control API) lands on the session b holds.
    user = client_ip(6)
    with b.connect(s.client, user) as held:
        assert ask(held, "hi").startswith("main-b ")
        sid = _session_on(a, user, "b")
        status, body = a.api("POST", f"/api/v1/sessions/{sid}/switch", {"reason": "asked of a"})
        assert (status, body) == (200, {"switched": [sid], "host": "b"})
        assert ask(held, "still there?").startswith("honeypot-b ")
        served = recorded(b, "cluster_switch", session_id=sid)
        assert (served["requester"], served["result"]) == ("a", "switched")

    # ... and through a's CLI, on a session a worker of c holds.
    other = client_ip(7)
    with c.connect(s.client, other) as held:
        assert ask(held, "hi").startswith("main-c ")
        sid = _session_on(a, other, "c")
        listing = a.cli("sessions").stdout
        assert listing.startswith("HOST ") and any(line.split()[:2] == ["c", sid] for line in listing.splitlines())
        out = a.cli("switch", sid, "--reason", "from a's CLI").stdout
        assert out.startswith(f"switched {sid} on c/w")
        assert ask(held, "and now?").startswith("honeypot-c ")
    rows = json.loads(a.cli("sessions", "--json").stdout)
    assert {"a", "b", "c/w0", "c/w1"} <= set(rows["hosts"])

    # An operator's entry on the host with workers (its supervisor's API) reaches the
    # others, and c records it once, as its own.
    c.cli("blacklist", "add", client_ip(8), "--reason", "listed on c")
    for host in (a, b):
        wait(lambda host=host: host.listed(client_ip(8)), 5, f"{host.name} gets c's entry")
    time.sleep(0.3)  # room for a worker of c to take its sibling's entry for another host's
    assert [e["origin"] for e in c.events("blacklist_add") if e["ip"] == client_ip(8)] == [None]
    assert set(c.get("/api/v1/health")["cluster"]["nodes"]) == {"c/w0", "c/w1"}
    # The cluster's event stream, from the supervisor of c, with the CLI.
    lines = _follow(c, "--cluster", "--since", "0")
    hosts = {json.loads(line)["host"] for line in lines}
    assert {"a", "b"} <= hosts and hosts & {"c/w0", "c/w1"}, hosts
    assert recorded(a, "blacklist_add", ip=client_ip(8))["by"].startswith("operator@c/w")  # the node that sent it


def _follow(host: Host, *args: str, seconds: float = 3.0) -> list[str]:
    """What ``honeyswitch events --follow ARGS`` printed in ``seconds`` (then it is stopped)."""
    argv = netns.in_ns(host.ns, [*HS, "events", "--follow", *args, "-c", str(host.config)])
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds).stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    return [line for line in out.splitlines() if line.startswith("{")]


def _session_on(asked: Host, src: str, host: str) -> str:
    """The id of ``src``'s session on ``host``, as ``asked`` lists the cluster's sessions."""
    found: list[str] = []

    def look() -> bool:
        rows = asked.get("/api/v1/cluster/sessions")["sessions"]
        found[:] = [r["session_id"] for r in rows if r["src_ip"] == src and r["host"] == host]
        return bool(found)
    wait(look, 5, f"{asked.name} lists {src}'s session on {host}", step=0.05)
    return found[0]


class Talker:
    """A client that keeps talking to a host while Redis goes away and comes back: one
    long session, and a new connection every tenth line (bounded in count and time)."""

    def __init__(self, site: Site, host: Host, long_src: str, new_src: str) -> None:
        self.site, self.host, self.long_src, self.new_src = site, host, long_src, new_src
        self.answers, self.worst, self.failures = 0, 0.0, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"talker-{host.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + 90
        try:
            with self.host.connect(self.site.client, self.long_src) as sock:
                for n in range(5000):
                    if self.stop.is_set() or time.monotonic() > deadline:
                        return
                    start = time.monotonic()
                    reply = ask(sock, f"line {n}")
                    if n % 10 == 0:
                        reply += " " + self.host.served_by(self.site.client, self.new_src)
                    if not reply.startswith(f"main-{self.host.name} "):
                        self.failures.append(reply)
                    self.worst = max(self.worst, time.monotonic() - start)
                    self.answers += 1
                    time.sleep(0.02)
        except OSError as e:
            self.failures.append(f"{type(e).__name__}: {e}")

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)


def contact_events(host: Host, since: str) -> list[dict[str, Any]]:
    """The host's cluster_down and cluster_up events from ``since`` (ISO time) on, in order."""
    found = [e for e in host.events("cluster_down") + host.events("cluster_up") if e["timestamp"] >= since]
    return sorted(found, key=lambda e: str(e["timestamp"]))


def test_redis_killed_and_restarted_nothing_stops_and_decisions_catch_up(site: Any) -> None:
    s = site(["a", "b"])
    a, b = s.start("a"), s.start("b")
    s.all_up()
    talkers = [Talker(s, a, client_ip(10), client_ip(11)), Talker(s, b, client_ip(12), client_ip(13))]
    wait(lambda: all(t.answers > 5 for t in talkers), 10, "the clients talk")

    # Before this, a loaded machine may have seen a first connect time out at start (an
    # outage of its own, rightly recorded): the outage under test is the one from here.
    killed_at = datetime.now(UTC).isoformat(timespec="microseconds")
    s.redis.kill()
    for host in (a, b):
        wait(lambda host=host: host.cluster_state() == "down", 10, f"{host.name} notices", step=0.05)
    status, metrics = a.api("GET", "/metrics")
    down = recorded(a, "cluster_down")
    assert "redis" in down and down["error"]
    # Decisions meanwhile: an operator's entry on a, an alert on b.
    listed, scored = client_ip(20), client_ip(21)
    a.cli("blacklist", "add", listed, "--reason", "during the outage")
    with b.connect(s.client, scored) as sock:
        assert ask(sock, "ATTACK-60 while Redis is away").startswith("main-b ")
    health = b.get("/api/v1/health")["cluster"]
    assert health["state"] == "down" and health["outbox"] >= 1  # b's share waits
    time.sleep(0.5)
    assert not b.listed(listed)
    answered_during = [t.answers for t in talkers]

    s.redis.start()  # empty: it lost everything, the hosts republish what they know
    s.all_up()
    wait(lambda: b.served_by(s.client, listed) == "honeypot-b", 10, "a's entry reaches b")
    wait(lambda: remote_part(a, scored).get("b", 0) > 59, 10, "b's score reaches a")
    wait(lambda: all(t.answers > n + 5 for t, n in zip(talkers, answered_during, strict=True)), 10, "still talking")
    for t in talkers:
        t.finish()
        assert not t.failures, (t.host.name, t.failures[:3])
        assert t.worst < 2.0, (t.host.name, t.worst)  # never held up by Redis
    assert "honeyswitch_cluster_up 0.0" in metrics
    for host in (a, b):  # one outage, said once; back with what Redis lost
        wait(lambda host=host: any(e["event_type"] == "cluster_up" for e in contact_events(host, killed_at)), 5,
             f"{host.name}: cluster_up recorded (by its writer thread)", step=0.05)
        outage = contact_events(host, killed_at)
        assert [e["event_type"] for e in outage] == ["cluster_down", "cluster_up"], (host.name, outage)
        assert outage[1]["data_lost"] and outage[1]["down_for"] > 0.4, (host.name, outage)
