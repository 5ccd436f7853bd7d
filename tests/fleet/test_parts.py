"""The sans-IO parts of the cluster sync: outbox, score shares, reconcile, records, and
the mirror applying remote decisions to a stand-in daemon (no Redis here)."""
from __future__ import annotations

import json
import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honeyswitch.fleet.mirror import Mirror
from honeyswitch.fleet.model import (
    BadRecord,
    BlacklistEntry,
    IncidentShare,
    SourceShare,
    SwitchResult,
)
from honeyswitch.fleet.outbox import ADD, REMOVE, Op, Outbox
from honeyswitch.fleet.reconcile import reconcile
from honeyswitch.fleet.remote import Decision, Outcome
from honeyswitch.fleet.shares import FLOOR, RemoteShares, decayed, fades_at
from honeyswitch.scoring.decay import DecayingScores
from honeyswitch.testing.fleetdaemon import FakeDaemon


def entry(ip: str, expires: float | None = 2000.0, at: float = 100.0, origin: str = "") -> BlacklistEntry:
    return BlacklistEntry(ip, "r", "operator", 100.0, expires, at, origin)


# ---------------------------------------------------------------- outbox

def test_outbox_keeps_one_op_per_address_the_latest() -> None:
    box = Outbox(10)
    add = Op.add(entry("192.0.2.1"))
    box.put(add)
    box.put(Op.score(SourceShare("192.0.2.1", 5, 1)))
    rm = Op.remove("192.0.2.1", 200, "operator")
    box.put(rm)
    assert len(box) == 2 and box.pending("192.0.2.1") is rm
    assert [o.kind for o in box.peek(10)] == [REMOVE, "src"]  # blacklist first
    box.done([add])  # an older op reported sent: the newer stays
    assert box.pending("192.0.2.1") is rm
    box.done(box.peek(10))
    assert not box


def test_outbox_bound_evicts_shares_then_adds_then_drops_removals() -> None:
    box = Outbox(3)
    box.put(Op.remove("10.0.0.1", 1, "op"))
    box.put(Op.add(entry("10.0.0.2")))
    box.put(Op.score(SourceShare("10.0.0.3", 1, 1)))
    box.put(Op.remove("10.0.0.4", 1, "op"))  # over: the share goes
    assert (box.evicted, box.dropped, len(box)) == (1, 0, 3) and not box.pending_share("10.0.0.3")
    box.put(Op.remove("10.0.0.5", 1, "op"))  # over: the add goes
    assert (box.evicted, box.dropped) == (2, 0) and box.pending("10.0.0.2") is None
    box.put(Op.remove("10.0.0.6", 1, "op"))  # only removals: the oldest is dropped
    assert (box.evicted, box.dropped) == (2, 1) and box.pending("10.0.0.1") is None
    assert [o.ip for o in box.peek(5)] == ["10.0.0.4", "10.0.0.5", "10.0.0.6"]


# ---------------------------------------------------------------- shares

@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 1000), st.floats(0.1, 100)), min_size=1, max_size=30),
       st.floats(1, 5000))
def test_sum_of_host_shares_is_the_one_host_score_of_all_alerts(alerts: list[tuple[str, float, float]],
                                                                 later: float) -> None:
    # Each host keeps its own decayed sum; the sum of the hosts' pairs, each decayed on
    # read, equals one host's score had it seen every alert.
    half_life = 300.0
    alerts = sorted(alerts, key=lambda a: a[1])
    per_host = {h: DecayingScores(half_life) for h in "abc"}
    one = DecayingScores(half_life)
    for host, t, score in alerts:
        per_host[host].add("x", score, t)
        one.add("x", score, t)
    now = alerts[-1][1] + later
    shares = RemoteShares(half_life)
    for host, scores in per_host.items():
        for ip, (s, t) in scores._scores.items():
            shares.put(host, SourceShare(ip, s, t), now)
    assert shares.score("x", now) == pytest.approx(one.get("x", now), rel=1e-9, abs=1e-12)


def test_decay_and_fading() -> None:
    assert decayed(100, 0, 600, 600) == pytest.approx(50)
    assert decayed(100, 10, 5, 600) == 100  # a clock ahead never makes a score grow
    t = fades_at(100, 0, 600)
    assert decayed(100, 0, t, 600) == pytest.approx(FLOOR)
    assert fades_at(FLOOR / 2, 7, 600) == 7


def test_remote_shares_replace_per_node_and_keep_the_newer() -> None:
    shares = RemoteShares(600)
    shares.put("a", SourceShare("x", 10, 100), 100)
    shares.put("a", SourceShare("x", 30, 200), 200)
    shares.put("a", SourceShare("x", 99, 150), 200)  # older, arriving late: ignored
    shares.put("b", SourceShare("x", 5, 200), 200)
    assert shares.score("x", 200) == pytest.approx(35)
    assert shares.by_node("x", 200) == {"a": pytest.approx(30), "b": pytest.approx(5)}
    assert shares.prune(200 + 600 * math.log2(30 / FLOOR) + 1) == ["x"]


def test_remote_shares_are_bounded() -> None:
    shares = RemoteShares(600, max_sources=10)
    for i in range(11):
        shares.put("a", SourceShare(f"10.0.0.{i}", float(i + 1), 0), 0)
    assert len(shares) == 5 and "10.0.0.10" in shares and "10.0.0.0" not in shares


# ---------------------------------------------------------------- reconcile

def test_reconcile_table() -> None:
    local = {"1.1.1.1": entry("1.1.1.1", 100), "2.2.2.2": entry("2.2.2.2", 900), "3.3.3.3": entry("3.3.3.3"),
             "4.4.4.4": entry("4.4.4.4"), "6.6.6.6": entry("6.6.6.6")}
    snapshot = {"1.1.1.1": entry("1.1.1.1", 500), "2.2.2.2": entry("2.2.2.2", 300), "5.5.5.5": entry("5.5.5.5"),
                "6.6.6.6": entry("6.6.6.6", None)}
    plan = reconcile(local, snapshot, known={"3.3.3.3"}, pending=lambda ip: ip == "6.6.6.6")
    assert [e.ip for e in plan.apply] == ["1.1.1.1", "5.5.5.5"]  # Redis's lasts longer / only there
    assert [e.ip for e in plan.publish] == ["2.2.2.2", "4.4.4.4"]  # ours lasts longer / never there
    assert plan.remove == ["3.3.3.3"]  # Redis held it and no longer does
    # 6.6.6.6: a local decision is waiting, left alone


# ---------------------------------------------------------------- records

def test_records_round_trip_and_reject_bad_ones() -> None:
    e = entry("2001:db8::1", None, origin="gw-1")
    assert BlacklistEntry.from_fields({k.encode(): v.encode() for k, v in e.fields().items()}) == e
    s = SourceShare("192.0.2.1", 12.5, 1000.25, IncidentShare("inc-1", 990, 1000, 3, 12.5, 1900))
    assert SourceShare.from_wire("192.0.2.1", s.wire()) == s
    r = SwitchResult("b", "switched", ("s1",))
    assert SwitchResult.from_wire(r.wire()) == r
    for bad in ({"ip": "x"}, {**e.fields(), "at": "nan"}, {**e.fields(), "expires": "soon"}):
        with pytest.raises(BadRecord):
            BlacklistEntry.from_fields(bad)
    for raw in ("[]", "not json", '{"s": "inf", "t": 1}', '{"s": 1, "t": 1, "i": 5}'):
        with pytest.raises(BadRecord):
            SourceShare.from_wire("x", raw)
    with pytest.raises(BadRecord):
        SwitchResult.from_wire('{"status": "pwned"}')
    assert len(BlacklistEntry.from_fields({**e.fields(), "reason": "x" * 10_000}).reason) == 500


# ---------------------------------------------------------------- mirror

def make_mirror() -> tuple[Mirror, FakeDaemon, Outbox]:
    daemon = FakeDaemon("me", clock=lambda: 150.0)
    box = Outbox(100)
    return Mirror(daemon, "me", 600, box, Counter()), daemon, box


def test_mirror_applies_remote_decisions_without_echo() -> None:
    mirror, daemon, box = make_mirror()

    class Echo:  # a daemon whose apply publishes again, as a naive wiring would
        def publish_blacklist(self, e: BlacklistEntry) -> None:
            assert not mirror.wants_add(e), "an echo of a remote entry must not be published"

        def publish_unblacklist(self, ip: str, by: str, at: float | None = None) -> None:
            assert not mirror.wants_remove()

    daemon.fleet = Echo()  # type: ignore[assignment]
    e = entry("192.0.2.7", origin="b")
    mirror.on_decision(Decision(b"1-0", "b", ADD, e.ip, entry=e), 150)
    assert daemon.is_listed("192.0.2.7") and mirror.known["192.0.2.7"] == e
    assert not mirror.wants_add(entry("192.0.2.7", 1500))  # shorter than what the cluster has
    assert mirror.wants_add(entry("192.0.2.7", 3000))
    mirror.on_decision(Decision(b"2-0", "b", REMOVE, e.ip, at=160, by="operator"), 160)
    assert not daemon.is_listed("192.0.2.7") and "192.0.2.7" not in mirror.known


def test_mirror_keeps_a_newer_local_decision_over_an_older_remote_one() -> None:
    mirror, daemon, box = make_mirror()
    box.put(Op.remove("192.0.2.8", 170, "operator"))  # decided here at 170, not sent yet
    e = entry("192.0.2.8", at=160, origin="b")
    mirror.on_decision(Decision(b"1-0", "b", ADD, e.ip, entry=e), 170)
    assert not daemon.is_listed("192.0.2.8")
    newer = entry("192.0.2.8", at=180, origin="b")
    mirror.on_decision(Decision(b"2-0", "b", ADD, e.ip, entry=newer), 180)
    assert daemon.is_listed("192.0.2.8")


def test_mirror_outcomes() -> None:
    mirror, daemon, box = make_mirror()
    ours = entry("192.0.2.9", 1000)
    daemon.apply_blacklist(ours)
    longer = entry("192.0.2.9", 5000, origin="b")
    mirror.on_outcome(Outcome(Op.add(ours), "same", longer))  # the cluster's lasts longer: ours too
    assert daemon.blacklist["192.0.2.9"].expires == 5000
    mirror.on_outcome(Outcome(Op.add(ours), "stale"))  # removed after we decided: unlisted here
    assert not daemon.is_listed("192.0.2.9")
    mirror.on_outcome(Outcome(Op.remove("192.0.2.9", 120, "op"), "newer", longer))  # re-added later
    assert daemon.is_listed("192.0.2.9")


def test_mirror_tells_the_daemon_the_remote_sum() -> None:
    mirror, daemon, _ = make_mirror()
    mirror.on_decision(Decision(b"1-0", "b", "src", "192.0.2.10", share=SourceShare("192.0.2.10", 80, 150)), 150)
    mirror.on_decision(Decision(b"2-0", "c", "src", "192.0.2.10", share=SourceShare("192.0.2.10", 40, 150)), 150)
    assert daemon.remote["192.0.2.10"] == (pytest.approx(120), 150)
    # a snapshot where only our own share is left: the remote sum is gone
    plan = mirror.resync({}, {"192.0.2.10": {"me": SourceShare("192.0.2.10", 1, 150)}}, 150)
    assert daemon.remote["192.0.2.10"] == (0.0, 150) and plan == ([], 0, 0)


def test_event_stream_entries_are_read_whole_or_skipped() -> None:
    import json

    from honeyswitch.fleet.eventstream import BATCH_BYTES, _events

    batch = {b"n": b"gw-2", b"b": json.dumps([{"event_type": "a"}, 7, {"event_type": "b", "host": "forged"}])}
    assert _events(batch) == [{"event_type": "a", "host": "gw-2"}, {"event_type": "b", "host": "gw-2"}]
    assert _events({b"n": b"old", b"e": b'{"event_type": "c"}'}) == [{"event_type": "c", "host": "old"}]
    too_large = b"[" + b'{"a":1},' * (BATCH_BYTES // 8 + 100) + b"{}]"
    for bad in (b"not json", b'{"event_type": "x"}', too_large):  # skipped whole
        assert _events({b"n": b"x", b"b": bad}) == []
    assert _events({b"n": b"x", b"e": b'[{"event_type": "y"}]'}) == []


def test_event_shipper_drops_the_oversized_and_the_oldest_past_its_bound() -> None:
    from collections import Counter

    from honeyswitch.fleet import eventstream
    from honeyswitch.fleet.keys import Keys

    counters: Counter[str] = Counter()
    shipper = eventstream.EventShipper(None, Keys("t"), "n", 1000, counters)
    shipper.put({"event_type": "huge", "reason": "x" * eventstream.EVENT_MAX})
    assert not shipper.buffer and counters["events_dropped"] == 1
    for i in range(eventstream.BUFFER + 5):
        shipper.put({"event_type": "e", "n": i})
    assert len(shipper.buffer) == eventstream.BUFFER and counters["events_dropped"] == 6
    assert json.loads(shipper.buffer[0][1])["n"] == 5  # the oldest went first
