"""`honeyswitch firewall apply|remove` in a namespace of the test's own: idempotent, and
it touches no table but its own."""
from __future__ import annotations

import pytest
from nslab import hs, write_config

from honeyswitch.testing import netns

pytestmark = pytest.mark.root

OTHER_TABLE = """table inet someone_else {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 22 counter accept
	}
}
"""


def snapshot(ns: str) -> tuple[str, str, str, str, str]:
    """Everything apply may change: the ruleset, policy rules and our route table."""
    return (
        netns.run(ns, ["nft", "list", "ruleset"]).stdout,
        netns.run(ns, ["ip", "-4", "rule"]).stdout,
        netns.run(ns, ["ip", "-6", "rule"]).stdout,
        netns.run(ns, ["ip", "-4", "route", "show", "table", "all"]).stdout,
        netns.run(ns, ["ip", "-6", "route", "show", "table", "all"]).stdout,
    )


def test_apply_twice_then_remove_leaves_the_ruleset_as_before(lab, tmp_path):
    ns = lab.ns("fw")
    netns.run(ns, ["nft", "-f", "-"], stdin=OTHER_TABLE)
    cfg = write_config(tmp_path / "hs.toml", [
        {"name": "web", "listen": ["0.0.0.0:8400", "[::]:8400"], "main": "tcp://127.0.0.1:8080",
         "honeypot": "tcp://127.0.0.1:8081", "intercept": "redirect", "intercept_ports": [80, 443]},
        {"name": "gw", "listen": "0.0.0.0:8500", "main": "tcp://198.18.1.2:7000",
         "honeypot": "tcp://198.18.2.2:7000", "intercept": "tproxy", "transparent_upstream": True},
    ], firewall={"blacklist_set": True, "local": True})
    before = snapshot(ns)

    hs(ns, cfg, "firewall", "apply")
    once = snapshot(ns)
    hs(ns, cfg, "firewall", "apply")
    assert snapshot(ns) == once  # applying again changes nothing

    ruleset = once[0]
    assert "table inet someone_else" in ruleset and "tcp dport 22 counter" in ruleset
    assert "redirect to :8400" in ruleset and "tproxy ip to :8500" in ruleset
    assert "fwmark 0x4853 lookup 4853" in once[1] and "fwmark 0x4853 lookup 4853" in once[2]
    assert "local default dev lo" in once[3]

    hs(ns, cfg, "firewall", "remove")
    assert snapshot(ns) == before
    out = hs(ns, cfg, "firewall", "remove")  # absent: still no error
    assert "removed" in out.stdout
    assert snapshot(ns) == before


def test_apply_reports_a_bad_rule_in_one_line(lab, tmp_path):
    ns = lab.ns("fwbad")
    # The local route of tproxy needs loopback up: with it down, `ip route` fails, and
    # the error is one line naming the command.
    cfg = write_config(tmp_path / "hs.toml", [
        {"name": "gw", "listen": "0.0.0.0:8500", "main": "tcp://198.18.1.2:7000",
         "honeypot": "tcp://198.18.2.2:7000", "intercept": "tproxy"},
    ])
    netns.run(ns, ["ip", "link", "set", "lo", "down"])  # the local route needs lo up
    res = hs(ns, cfg, "firewall", "apply", check=False)
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("honeyswitch: firewall apply: ip -")
