"""The rule builders are pure: config in, nft text or iptables argv out, compared whole."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from honeyswitch.config import build
from honeyswitch.intercept import iptables, nft
from honeyswitch.intercept.plan import build_plan
from honeyswitch.intercept.runner import Step

PROLOGUE = nft.HEADER + "table inet honeyswitch {\n}\ndelete table inet honeyswitch\n"
WEB = {"name": "web", "listen": ["0.0.0.0:8400", "[::]:8400"], "main": "tcp://127.0.0.1:8080",
       "honeypot": "tcp://127.0.0.1:8081", "intercept": "redirect", "intercept_ports": [80, 443]}
GW = {"name": "gw", "listen": "0.0.0.0:8500", "main": "tcp://198.18.1.2:7000",
      "honeypot": "tcp://198.18.2.2:7000", "intercept": "tproxy", "transparent_upstream": True}


def plan(services: list[dict[str, Any]], **firewall: Any):  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {"service": services}
    if firewall:
        data["firewall"] = firewall
    cfg = build(data, "t.toml", Path("/tmp"))
    return build_plan(cfg.services, cfg.firewall)


def test_redirect_on_the_server_host():
    assert nft.ruleset(plan([WEB])) == PROLOGUE + """table inet honeyswitch {
	chain nat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		meta nfproto ipv4 tcp dport { 80, 443 } redirect to :8400 comment "service web"
		meta nfproto ipv6 tcp dport { 80, 443 } redirect to :8400 comment "service web"
	}
}
"""


def test_redirect_of_local_connections_uses_the_output_hook_too():
    svc = {**WEB, "listen": "0.0.0.0:8400", "intercept_dest": ["198.18.0.1", "198.18.4.0/24"]}
    assert nft.ruleset(plan([svc], local=True)) == PROLOGUE + """table inet honeyswitch {
	chain nat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr { 198.18.0.1, 198.18.4.0/24 } tcp dport { 80, 443 } redirect to :8400 comment "service web"
	}
	chain nat_output {
		type nat hook output priority -100; policy accept;
		ip daddr { 198.18.0.1, 198.18.4.0/24 } tcp dport { 80, 443 } redirect to :8400 comment "service web"
	}
}
"""


def test_tproxy_on_a_gateway_with_marks_and_isolation():
    assert nft.ruleset(plan([GW])) == PROLOGUE + """table inet honeyswitch {
	chain mangle_prerouting {
		type filter hook prerouting priority mangle; policy accept;
		meta l4proto tcp socket transparent 1 meta mark set 0x4853 accept comment "our transparent sockets"
		ip daddr 198.18.1.2 tcp dport 7000 tproxy ip to :8500 meta mark set 0x4853 accept comment "service gw"
	}
	chain isolate_prerouting {
		type filter hook prerouting priority mangle - 10; policy accept;
		ip saddr 198.18.2.2 ip daddr 198.18.1.2 ct state new drop comment "service gw: the honeypot may not reach main"
	}
}
"""


def test_tproxy_to_a_listener_address_ipv6():
    svc = {**GW, "listen": "[2001:db8::1]:8500", "main": "tcp://[2001:db8:1::2]:7000",
           "honeypot": "tcp://[2001:db8:2::2]:7000", "transparent_upstream": False}
    text = nft.ruleset(plan([svc], mark=7))
    assert ('\t\tip6 daddr 2001:db8:1::2 tcp dport 7000 tproxy ip6 to [2001:db8::1]:8500 '
            'meta mark set 0x7 accept comment "service gw"\n') in text
    assert "ip6 saddr 2001:db8:2::2 ip6 daddr 2001:db8:1::2 ct state new drop" in text


def test_blacklist_set_sends_listed_sources_from_main_port_too():
    plain = {"name": "echo", "listen": "0.0.0.0:9100", "main": "tcp://198.18.0.1:9000",
             "honeypot": "tcp://127.0.0.1:9001"}
    text = nft.ruleset(plan([plain], blacklist_set=True), blacklist_nft="# filled\n")
    assert text == PROLOGUE + """table inet honeyswitch {
	set honeyswitch_blacklist {
		type ipv4_addr
		flags timeout
	}
	set honeyswitch_blacklist6 {
		type ipv6_addr
		flags timeout
	}
	chain nat_prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip saddr @honeyswitch_blacklist tcp dport 9000 redirect to :9100 comment "blacklisted to service echo"
	}
}
# filled
"""


def test_services_without_interception_make_an_empty_table():
    plain = {"name": "echo", "listen": "127.0.0.1:0", "main": "tcp://127.0.0.1:9000",
             "honeypot": "tcp://127.0.0.1:9001"}
    assert nft.ruleset(plan([plain])) == PROLOGUE + "table inet honeyswitch {\n}\n"


def test_policy_routing_only_with_tproxy_or_transparent_upstream():
    assert [s for s in nft.routing_apply(plan([WEB])) if not (s.repeat or s.may_fail)] == []
    adds = [s.argv for s in nft.routing_apply(plan([GW], mark=0x10, route_table=77))
            if not (s.repeat or s.may_fail)]
    assert adds == [
        ("ip", "-4", "rule", "add", "fwmark", "0x10", "lookup", "77"),
        ("ip", "-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo", "table", "77"),
        ("ip", "-6", "rule", "add", "fwmark", "0x10", "lookup", "77"),
        ("ip", "-6", "route", "replace", "local", "::/0", "dev", "lo", "table", "77"),
    ]
    removal = nft.routing_remove(plan([GW]))
    assert removal[0] == Step(("ip", "-4", "rule", "del", "fwmark", "0x4853", "lookup", "4853"), repeat=True)
    assert all(s.repeat or s.may_fail for s in removal)


def test_remove_script_succeeds_when_the_table_is_absent():
    assert nft.remove_script() == "table inet honeyswitch {\n}\ndelete table inet honeyswitch\n"


def test_iptables_form():
    steps = iptables.apply_steps(plan([{**WEB, "listen": "0.0.0.0:8400"}, GW]))
    adds = [s.argv for s in steps if not (s.repeat or s.may_fail)]
    assert adds == [
        ("iptables", "-t", "nat", "-N", "HONEYSWITCH"),
        ("iptables", "-t", "nat", "-A", "HONEYSWITCH", "-p", "tcp", "-m", "multiport", "--dports", "80,443",
         "-m", "comment", "--comment", "service web", "-j", "REDIRECT", "--to-ports", "8400"),
        ("iptables", "-t", "nat", "-I", "PREROUTING", "-j", "HONEYSWITCH"),
        ("iptables", "-t", "mangle", "-N", "HONEYSWITCH_DIVERT"),
        ("iptables", "-t", "mangle", "-A", "HONEYSWITCH_DIVERT", "-j", "MARK", "--set-mark", "0x4853"),
        ("iptables", "-t", "mangle", "-A", "HONEYSWITCH_DIVERT", "-j", "ACCEPT"),
        ("iptables", "-t", "mangle", "-N", "HONEYSWITCH"),
        ("iptables", "-t", "mangle", "-A", "HONEYSWITCH", "-p", "tcp", "-m", "socket", "--transparent",
         "-j", "HONEYSWITCH_DIVERT"),
        ("iptables", "-t", "mangle", "-A", "HONEYSWITCH", "-p", "tcp", "-d", "198.18.1.2", "--dport", "7000",
         "-m", "comment", "--comment", "service gw", "-j", "TPROXY", "--on-port", "8500",
         "--tproxy-mark", "0x4853/0xffffffff"),
        ("iptables", "-t", "mangle", "-I", "PREROUTING", "-j", "HONEYSWITCH"),
        ("iptables", "-t", "mangle", "-N", "HONEYSWITCH_ISOLATE"),
        ("iptables", "-t", "mangle", "-A", "HONEYSWITCH_ISOLATE", "-s", "198.18.2.2", "-d", "198.18.1.2",
         "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
         "service gw: the honeypot may not reach main", "-j", "DROP"),
        ("iptables", "-t", "mangle", "-I", "PREROUTING", "-j", "HONEYSWITCH_ISOLATE"),
        # IPv6: only the transparent-socket mark (no IPv6 listener or address here)
        ("ip6tables", "-t", "mangle", "-N", "HONEYSWITCH_DIVERT"),
        ("ip6tables", "-t", "mangle", "-A", "HONEYSWITCH_DIVERT", "-j", "MARK", "--set-mark", "0x4853"),
        ("ip6tables", "-t", "mangle", "-A", "HONEYSWITCH_DIVERT", "-j", "ACCEPT"),
        ("ip6tables", "-t", "mangle", "-N", "HONEYSWITCH"),
        ("ip6tables", "-t", "mangle", "-A", "HONEYSWITCH", "-p", "tcp", "-m", "socket", "--transparent",
         "-j", "HONEYSWITCH_DIVERT"),
        ("ip6tables", "-t", "mangle", "-I", "PREROUTING", "-j", "HONEYSWITCH"),
        ("ip", "-4", "rule", "add", "fwmark", "0x4853", "lookup", "4853"),
        ("ip", "-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo", "table", "4853"),
        ("ip", "-6", "rule", "add", "fwmark", "0x4853", "lookup", "4853"),
        ("ip", "-6", "route", "replace", "local", "::/0", "dev", "lo", "table", "4853"),
    ]


def test_iptables_removal_takes_every_jump_and_chain_away_first():
    steps = iptables.remove_steps(plan([WEB]))
    assert all(s.repeat or s.may_fail for s in steps)
    jumps = [s for s in steps if "-D" in s.argv]
    assert jumps and all(s.repeat for s in jumps)
    first_flush = next(i for i, s in enumerate(steps) if "-F" in s.argv)
    assert all(steps.index(j) < first_flush for j in jumps if j.argv[0] == "iptables")


def test_iptables_blacklist_uses_ipset_from_the_export():
    steps = iptables.apply_steps(plan([WEB], blacklist_set=True), ipset_restore="create x\n")
    restore = next(s for s in steps if s.argv[:2] == ("ipset", "restore"))
    assert restore.stdin == "create x\n"
    assert any("--match-set" in s.argv and "honeyswitch_blacklist" in s.argv for s in steps)
    assert any("--match-set" in s.argv and "honeyswitch_blacklist6" in s.argv for s in steps)


def test_iptables_script_is_shell():
    text = iptables.script([
        Step(("iptables", "-t", "nat", "-D", "PREROUTING", "-j", "HONEYSWITCH"), repeat=True),
        Step(("iptables", "-t", "nat", "-X", "HONEYSWITCH"), may_fail=True),
        Step(("iptables", "-t", "nat", "-A", "HONEYSWITCH", "-m", "comment", "--comment", "service web")),
    ])
    assert text.splitlines()[2:] == [
        "while iptables -t nat -D PREROUTING -j HONEYSWITCH 2>/dev/null; do :; done",
        "iptables -t nat -X HONEYSWITCH 2>/dev/null || true",
        "iptables -t nat -A HONEYSWITCH -m comment --comment 'service web'",
    ]
