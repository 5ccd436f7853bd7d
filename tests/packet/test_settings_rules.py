"""Packet mode's config keys (one-line errors naming the key) and its queue rules,
generated as nft text and iptables commands (compared as text)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from honeyswitch.config import ConfigError, build
from honeyswitch.intercept import queue
from honeyswitch.packet.settings import INJECT_MARK, PacketSettings

PKT = {"name": "web", "mode": "packet", "main": "tcp://198.18.40.1:8080", "honeypot": "tcp://198.18.40.1:8081"}


def load(service: dict[str, Any] | None = None, **top: Any):  # type: ignore[no-untyped-def]
    return build({"service": [{**PKT, **(service or {})}], **top}, "hs.toml", Path("/etc/hs"))


def test_packet_service_needs_no_listener_and_has_defaults() -> None:
    svc = load().services[0]
    assert svc.mode == "packet" and svc.listen == () and svc.packet == PacketSettings()
    proxy = build({"service": [{"name": "p", "listen": "127.0.0.1:1", "main": "tcp://127.0.0.1:2",
                                "honeypot": "tcp://127.0.0.1:3"}]}, "hs.toml", Path("/etc")).services[0]
    assert proxy.mode == "proxy" and proxy.packet is None


@pytest.mark.parametrize("change,message", [
    ({"listen": "0.0.0.0:80"}, r"service\[0\]\.listen: not used with mode = \"packet\""),
    ({"main": "unix:/run/x.sock"}, r"service\[0\]\.main: mode = \"packet\" needs tcp://"),
    ({"honeypot": "tcp://honeypot.example:80"}, r"service\[0\]\.honeypot: mode = \"packet\" needs an IP address"),
    ({"honeypot": "tcp://[2001:2:0:40::1]:80"}, r"honeypot: must be of the same IP version as main"),
    ({"honeypot": "tcp://198.18.40.1:8080"}, r"honeypot: must differ from main"),
    ({"queue": 70000}, r"service\[0\]\.queue: must be an integer 0-0xffff, not 70000"),
    ({"queue_rules": "pf"}, r"queue_rules: must be one of"),
    ({"mode": "divert"}, r"service\[0\]\.mode: must be one of 'proxy', 'packet'"),
    ({"intercept": "redirect"}, r"intercept: not used with mode"),
])
def test_mistakes_are_one_line(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load(change)
    assert "\n" not in str(err.value)


def test_queue_keys_need_packet_mode() -> None:
    with pytest.raises(ConfigError, match=r"service\[0\]\.fail_open: needs mode = \"packet\""):
        build({"service": [{"name": "p", "listen": "127.0.0.1:1", "main": "tcp://127.0.0.1:2",
                            "honeypot": "tcp://127.0.0.1:3", "fail_open": False}]}, "hs.toml", Path("/etc"))


def test_packet_mode_runs_in_one_process() -> None:
    with pytest.raises(ConfigError, match=r"daemon\.workers: mode = \"packet\" services need \[daemon\] workers = 1"):
        load(daemon={"workers": 2})


def matches() -> list[queue.QueueMatch]:
    v4 = load({"fail_open": False, "queue": 7}).services[0]
    v6 = load({"name": "six", "main": "tcp://[2001:2:0:40::1]:80", "honeypot": "tcp://[2001:2:0:41::2]:80"}).services[0]
    return queue.queue_matches([v4, v6])


def test_nft_rules_queue_the_three_kinds_of_packet_and_let_ours_pass() -> None:
    text = queue.nft_ruleset(matches(), INJECT_MARK)
    assert text.startswith("table inet honeyswitch_packet {\n}\ndelete table inet honeyswitch_packet\n")
    assert text.count("meta mark 0x4854 return") == 2
    assert "ip daddr 198.18.40.1 tcp dport 8080 queue num 7 comment" in text  # fail_open = false: no bypass
    assert "ip saddr 198.18.40.1 tcp sport 8081 queue num 7 comment" in text
    assert "ip6 daddr 2001:2:0:40::1 tcp dport 80 queue num 4853 bypass" in text
    assert "ip6 saddr 2001:2:0:41::2 tcp sport 80 queue num 4853 bypass" in text
    pre, out = text.split("chain output")
    assert "daddr" not in out  # client packets come in through prerouting only
    assert "type filter hook prerouting priority raw" in pre and "type filter hook output priority raw" in out


def test_iptables_rules_in_chains_of_our_own_in_the_raw_table() -> None:
    steps = queue.iptables_steps(matches(), INJECT_MARK, "iptables-legacy")
    lines = [s.shell() for s in steps]
    assert lines[0].startswith("while iptables-legacy -t raw -D PREROUTING -j HONEYSWITCH_PKT_IN")
    assert "iptables-legacy -t raw -A HONEYSWITCH_PKT_IN -m mark --mark 0x4854 -j RETURN" in lines
    assert ("iptables-legacy -t raw -A HONEYSWITCH_PKT_IN -p tcp -d 198.18.40.1 --dport 8080 -m comment "
            "--comment 'service web' -j NFQUEUE --queue-num 7") in lines
    assert ("ip6tables-legacy -t raw -A HONEYSWITCH_PKT_OUT -p tcp -s 2001:2:0:41::2 --sport 80 -m comment "
            "--comment 'service six' -j NFQUEUE --queue-num 4853 --queue-bypass") in lines
    assert lines[-1] == "ip6tables-legacy -t raw -I OUTPUT -j HONEYSWITCH_PKT_OUT"
    removal = [s.shell() for s in queue.iptables_remove("iptables")]
    assert all("-A" not in line for line in removal) and len(removal) == 12
