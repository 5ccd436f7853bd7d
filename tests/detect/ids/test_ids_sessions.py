"""SessionIndex: an alert finds its live session whichever way the packet went, through
the original destination in transparent mode, and by Community ID."""
from __future__ import annotations

import pytest

from honeyswitch.detect.ids import (
    IdsAlert,
    SessionIndex,
    SuricataEveParser,
    SuricataFastParser,
    community_id,
    community_ids,
    flow_key,
)
from honeyswitch.detect.ids.community import AVAILABLE

needs_communityid = pytest.mark.skipif(not AVAILABLE, reason="communityid not installed")


def alert(src, dst, proto="TCP", **kw) -> IdsAlert:
    fields = dict(timestamp=0.0, sensor="t", sid=1, gid=1, rev=1, msg="m",
                  classification=None, priority=1, severity=None, proto=proto,
                  src_ip=src[0], src_port=src[1], dest_ip=dst[0], dest_port=dst[1])
    fields.update(kw)
    return IdsAlert(**fields)


CLIENT = ("203.0.113.50", 41618)
LISTENER = ("192.0.2.1", 8080)
ORIGINAL = ("192.168.100.10", 80)


def test_both_directions_match():
    index = SessionIndex()
    index.add("s1", CLIENT, LISTENER)
    assert index.match(alert(CLIENT, LISTENER)) == ["s1"]
    assert index.match(alert(LISTENER, CLIENT)) == ["s1"]
    assert index.match(alert(CLIENT, ("192.0.2.1", 8081))) == []
    assert index.match(alert(("203.0.113.50", 41619), LISTENER)) == []


def test_transparent_mode_matches_the_original_destination():
    index = SessionIndex()
    index.add("s1", CLIENT, LISTENER, original_server=ORIGINAL)
    assert index.match(alert(ORIGINAL, CLIENT)) == ["s1"]  # what the IDS on the wire sees
    assert index.match(alert(CLIENT, LISTENER)) == ["s1"]


def test_extra_legs_and_remove():
    index = SessionIndex()
    backend_leg = (("127.0.0.1", 51000), ("127.0.0.1", 6379))
    index.add("s1", CLIENT, LISTENER, legs=[backend_leg])
    index.add("s2", ("203.0.113.51", 1), LISTENER)
    assert index.match(alert(("127.0.0.1", 6379), ("127.0.0.1", 51000))) == ["s1"]
    assert len(index) == 2 and "s1" in index
    assert index.remove("s1") and not index.remove("s1")
    assert index.match(alert(CLIENT, LISTENER)) == []
    assert index.match(alert(("203.0.113.51", 1), LISTENER)) == ["s2"]
    index.remove("s2")
    assert len(index) == 0 and not index._by_key and not index._by_cid


def test_re_adding_a_session_replaces_its_keys():
    index = SessionIndex()
    index.add("s1", CLIENT, LISTENER)
    index.add("s1", CLIENT, ORIGINAL)
    assert index.match(alert(CLIENT, LISTENER)) == []
    assert index.match(alert(CLIENT, ORIGINAL)) == ["s1"]


def test_addresses_are_normalised():
    index = SessionIndex()
    index.add("v4", ("::ffff:203.0.113.50", 41618), ("0:0:0:0:0:ffff:c000:201", 8080))
    index.add("v6", ("2001:0DB8::0001", 5000), ("2001:db8:0:0::2", 443))
    assert index.match(alert(CLIENT, LISTENER)) == ["v4"]
    assert index.match(alert(("2001:db8::2", 443), ("2001:db8::1", 5000))) == ["v6"]
    assert flow_key(("::ffff:10.0.0.1", 1), ("10.0.0.2", 2)) == flow_key(("10.0.0.2", 2), ("10.0.0.1", 1))


def test_not_tcp_or_no_ports_matches_nothing():
    index = SessionIndex()
    index.add("s1", CLIENT, LISTENER)
    assert index.match(alert(CLIENT, LISTENER, proto="UDP")) == []
    assert index.match(alert((CLIENT[0], None), (LISTENER[0], None), proto="ICMP")) == []
    assert index.match(alert((None, None), (None, None), proto=None)) == []


def test_flow_view_is_used_when_the_packet_tuple_differs():
    index = SessionIndex()
    index.add("s1", CLIENT, ORIGINAL)
    odd = alert(("10.9.9.9", 1), ("10.9.9.8", 2), flow_src_ip=CLIENT[0],
                flow_src_port=CLIENT[1], flow_dest_ip=ORIGINAL[0], flow_dest_port=ORIGINAL[1])
    assert index.match(odd) == ["s1"]


def test_two_sessions_sharing_a_tuple_both_match():
    index = SessionIndex()
    index.add("old", CLIENT, LISTENER)
    index.add("new", CLIENT, LISTENER)  # port reuse before "old" was removed
    assert index.match(alert(LISTENER, CLIENT)) == ["old", "new"]


def test_real_fast_log_lines_match_in_either_direction(shared_alerts):
    parser = SuricataFastParser()
    index = SessionIndex(use_community_id=False)
    index.add("sqlmap", ("127.0.0.1", 51238), ("127.0.0.1", 18080))
    matched = [a for a in map(parser.parse_line, shared_alerts("suricata7_fast_sqlmap_e2e.log"))
               if index.match(a) == ["sqlmap"]]
    assert {a.sid for a in matched} == {2008538, 2034635}  # request and reply alerts
    assert {a.src_port for a in matched} == {51238, 18080}


@needs_communityid
def test_community_id_of_the_spec():
    # Suricata's value for 203.0.113.50:41618 <-> 192.168.100.10:80, both orders
    expect = "1:UH7rhrIrktGi4daOxCPEIpalXtM="
    assert community_id("tcp", ("203.0.113.50", 41618), ("192.168.100.10", 80)) == expect
    assert community_id("TCP", ("192.168.100.10", 80), ("203.0.113.50", 41618)) == expect
    assert community_id("icmp", ("1.2.3.4", 0), ("1.2.3.5", 0)) is None


@needs_communityid
def test_suricata7_loopback_variant():
    # equal addresses: Suricata 7.0 orders ports by their byte-swapped value
    ids = community_ids("tcp", ("127.0.0.1", 8080), ("127.0.0.1", 50003))
    assert ids == ["1:HcAvE5CK8wDL5eDc5UPwiQ6vaKo=", "1:+E95Z84wPqiEZw+0nU3MwGLxcmY="]
    assert community_ids("tcp", ("127.0.0.1", 50003), ("127.0.0.1", 8080)) == ids
    assert len(community_ids("tcp", ("203.0.113.50", 41618), ("192.168.100.10", 80))) == 1


@needs_communityid
@pytest.mark.parametrize(
    "name", ["suricata7_eve_alerts_pcap.json", "suricata7_eve_alerts_sqlmap_e2e.json"])
def test_session_community_ids_equal_suricatas(shared_alerts, name):
    parser = SuricataEveParser()
    for line in shared_alerts(name):
        a = parser.parse_line(line)
        index = SessionIndex()
        index.add("s", a.client, a.server)
        assert a.community_id in index.community_ids("s")
        if a.src_ip != a.dest_ip:  # the spec's value, exactly, for distinct addresses
            assert index.community_ids("s") == [a.community_id]
        # found by Community ID alone, with the addresses withheld
        bare = alert((None, None), (None, None), community_id=a.community_id)
        assert index.match(bare) == ["s"]
        assert index.match(a) == ["s"]


def test_without_community_ids_the_tuple_still_matches(shared_alerts):
    parser = SuricataEveParser()
    index = SessionIndex(use_community_id=False)
    index.add("s", ("203.0.113.50", 41618), ("192.168.100.10", 80))
    first = parser.parse_line(shared_alerts("suricata7_eve_alerts_pcap.json")[0])
    assert index.match(first) == ["s"] and index.community_ids("s") == []
