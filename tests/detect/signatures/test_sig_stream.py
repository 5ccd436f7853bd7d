"""Stream behaviour: matches across chunks, no double alerts, windows, flowbits, pass."""
from __future__ import annotations

import pytest

from honeyswitch.detect.signatures import Limits

PATTERN = b"attack-pattern"


def R(options: str, sid: int = 1, action: str = "alert", proto: str = "tcp") -> str:
    return f'{action} {proto} any any -> any any (msg:"t{sid}"; {options} sid:{sid}; rev:1;)'


@pytest.mark.parametrize("options", [
    'content:"attack-pattern";',
    'content:"ATTACK-PATTERN"; nocase;',
    'pcre:"/attack-pat+ern/";',
    'content:"attack"; content:"-pattern"; distance:0; within:8;',
])
def test_pattern_split_at_every_offset(sig, options: str) -> None:
    det = sig.detector(R(options))
    payload = b"xx " + PATTERN + b" yy"
    for cut in range(len(payload) + 1):
        alerts = sig.run(det, [payload[:cut], payload[cut:]])
        assert len(alerts) == 1, cut


def test_pattern_split_over_many_small_chunks(sig) -> None:
    det = sig.detector(R('content:"attack-pattern";'))
    payload = b"noise " * 50 + PATTERN + b" tail"
    assert len(sig.run(det, [payload[i:i + 3] for i in range(0, len(payload), 3)])) == 1


def test_contents_arriving_in_different_chunks(sig) -> None:
    det = sig.detector(R('content:"USER root"; content:"PASS "; distance:0;'))
    alerts = sig.run(det, [b"USER root\r\n", b"SYST\r\n", b"PASS toor\r\n"])
    assert len(alerts) == 1


def test_no_second_alert_for_the_same_bytes(sig) -> None:
    det = sig.detector(R('content:"evil";'))
    assert len(sig.run(det, [b"evil", b"x", b"more", b"y"])) == 1


def test_new_occurrence_alerts_again(sig) -> None:
    det = sig.detector(R('content:"evil";'))
    assert len(sig.run(det, [b"evil 1 ", b"and evil 2"])) == 2


def test_repeat_inside_window_is_found_after_old_match(sig) -> None:
    det = sig.detector(R('pcre:"/(?:^|\\n)PASS\\s/";'))
    chunks = [b"USER a\r\n", b"PASS x\r\n", b"PASS y\r\n", b"NOOP\r\n", b"PASS z\r\n"]
    assert len(sig.run(det, chunks)) == 3


def test_directions_have_separate_streams(sig) -> None:
    det = sig.detector(R('content:"abcdef";'))
    assert sig.run(det, [(b"abc", True), (b"def", False)]) == []


def test_depth_anchor_matches_stream_start_and_each_chunk(sig) -> None:
    det = sig.detector(R('content:"USER "; depth:5;'))
    assert len(sig.run(det, [b"USER a\r\n"])) == 1
    # later commands: the chunk is tried as a packet, as Snort/Suricata would see it
    assert len(sig.run(det, [b"NOOP\r\n", b"USER b\r\n"])) == 1
    assert sig.run(det, [b"NOOP\r\n", b"xx USER b\r\n"]) == []


def test_dsize_applies_to_each_chunk(sig) -> None:
    det = sig.detector(R('dsize:<10; content:"ping";'))
    assert len(sig.run(det, [b"ping", b"ping " + b"x" * 20, b"ping"])) == 2


def test_window_is_bounded(sig) -> None:
    det = sig.detector(R('content:"AAAA"; content:"BBBB"; distance:0;'),
                       limits=Limits(stream_window=256))
    far = [b"AAAA", b"." * 1000, b"BBBB"]
    assert sig.run(det, far) == []
    near = [b"AAAA", b"." * 100, b"BBBB"]
    assert len(sig.run(det, near)) == 1


def test_chunk_larger_than_window(sig) -> None:
    det = sig.detector(R('content:"needle";'), limits=Limits(stream_window=1024))
    data = b"." * 100 + b"needle" + b"." * 100_000 + b"needle"
    assert len(sig.run(det, [data])) == 2


def test_pass_rule_suppresses_alerts(sig) -> None:
    rules = "\n".join([R('content:"evil";', 1), R('content:"allowed-evil";', 2, "pass")])
    assert len(sig.sids(rules, [b"evil"])) == 1
    assert sig.sids(rules, [b"allowed-evil"]) == []


def test_drop_and_reject_alert(sig) -> None:
    rules = "\n".join([R('content:"a1";', 1, "drop"), R('content:"a2";', 2, "reject")])
    assert sorted(sig.sids(rules, [b"a1 a2"])) == [1, 2]


# ------------------------------------------------------------------ flowbits

def test_flowbits_set_then_isset_across_chunks(sig) -> None:
    rules = "\n".join([
        R('content:"LOGIN"; flowbits:set,logged; flowbits:noalert;', 1),
        R('content:"rm -rf"; flowbits:isset,logged;', 2),
    ])
    assert sig.sids(rules, [b"rm -rf /"]) == []
    assert sig.sids(rules, [b"LOGIN x", b"rm -rf /"]) == [2]


def test_flowbits_setter_runs_before_checker_on_the_same_bytes(sig) -> None:
    rules = "\n".join([
        R('content:"rm -rf"; flowbits:isset,logged;', 1),
        R('content:"LOGIN"; flowbits:set,logged; flowbits:noalert;', 2),
    ])
    assert sig.sids(rules, [b"LOGIN x; rm -rf /"]) == [1]


def test_flowbits_set_by_server_seen_by_client_rule(sig) -> None:
    rules = "\n".join([
        R('flow:to_client; content:"230 "; flowbits:set,auth; flowbits:noalert;', 1),
        R('flow:to_server; content:"SITE EXEC"; flowbits:isset,auth;', 2),
    ])
    assert sig.sids(rules, [(b"230 ok\r\n", False), (b"SITE EXEC x\r\n", True)]) == [2]
    assert sig.sids(rules, [(b"530 no\r\n", False), (b"SITE EXEC x\r\n", True)]) == []


@pytest.mark.parametrize("ops,chunks,expect", [
    ("flowbits:isnotset,a;", [b"x"], True),
    ("flowbits:isset,a|b;", [b"setb", b"x"], True),
    ("flowbits:isset,a&b;", [b"setb", b"x"], False),
    ("flowbits:isset,a&b;", [b"seta", b"setb", b"x"], True),
    ("flowbits:isset,a;", [b"seta", b"unseta", b"x"], False),
    ("flowbits:isset,a;", [b"togglea", b"x"], True),
    ("flowbits:isset,a;", [b"togglea", b"togglea", b"x"], False),
])
def test_flowbit_commands(sig, ops: str, chunks: list[bytes], expect: bool) -> None:
    rules = "\n".join([
        R('content:"seta"; flowbits:set,a; flowbits:noalert;', 1),
        R('content:"setb"; flowbits:set,b; flowbits:noalert;', 2),
        R('content:"unseta"; flowbits:unset,a; flowbits:noalert;', 3),
        R('content:"togglea"; flowbits:toggle,a; flowbits:noalert;', 4),
        R(f'content:"x"; {ops}', 9),
    ])
    assert (sig.sids(rules, chunks) == [9]) is expect


def test_flowbits_do_not_leak_between_sessions(sig) -> None:
    det = sig.detector("\n".join([
        R('content:"LOGIN"; flowbits:set,logged; flowbits:noalert;', 1),
        R('content:"cmd"; flowbits:isset,logged;', 2),
    ]))
    assert sig.run(det, [b"LOGIN"], sig.flow(session="a")) == []
    assert sig.run(det, [b"cmd"], sig.flow(session="b")) == []


def test_alert_carries_score_and_details(sig1) -> None:
    rules = ('alert tcp any any -> any any (msg:"Bad thing"; content:"bad"; '
             'classtype:attempted-admin; sid:77; rev:3;)')
    [alert] = sig1.run(sig1.detector(rules), [b"bad"])
    assert alert.detector == "signature"
    assert alert.score == 100.0
    assert alert.details == {"sid": 77, "rev": 3, "gid": 1, "msg": "Bad thing",
                             "classtype": "attempted-admin", "priority": 1,
                             "action": "alert", "direction": "to_server"}
