"""Blacklist exports, compared to the exact expected text."""
from __future__ import annotations

import pytest

from honeyswitch.store.export import export

NOW = 1000.0
ENTRIES = [
    {"ip": "2001:db8::2", "expires": None},
    {"ip": "198.51.100.20", "expires": NOW + 3600},
    {"ip": "192.0.2.1", "expires": None},
    {"ip": "2001:db8::10", "expires": NOW + 0.2},  # rounds up to 1s, never 0 (= permanent)
    {"ip": "192.0.2.100", "expires": NOW + 59.5},
]


def test_text() -> None:
    assert export("text", ENTRIES, NOW) == (
        "192.0.2.1\n192.0.2.100\n198.51.100.20\n2001:db8::2\n2001:db8::10\n")


def test_nft() -> None:
    assert export("nft", ENTRIES, NOW) == """\
#!/usr/sbin/nft -f
# honeyswitch blacklist; load with: nft -f FILE
table inet honeyswitch {
\tset honeyswitch_blacklist {
\t\ttype ipv4_addr
\t\tflags timeout
\t}
\tset honeyswitch_blacklist6 {
\t\ttype ipv6_addr
\t\tflags timeout
\t}
}
flush set inet honeyswitch honeyswitch_blacklist
flush set inet honeyswitch honeyswitch_blacklist6
add element inet honeyswitch honeyswitch_blacklist { 192.0.2.1, 192.0.2.100 timeout 60s, 198.51.100.20 timeout 3600s }
add element inet honeyswitch honeyswitch_blacklist6 { 2001:db8::2, 2001:db8::10 timeout 1s }
"""


def test_nft_empty_has_no_empty_element_list() -> None:
    text = export("nft", [], NOW)
    assert "add element" not in text and text.endswith("flush set inet honeyswitch honeyswitch_blacklist6\n")


def test_nft_long_lists_are_split() -> None:
    many = [{"ip": f"10.0.{i // 256}.{i % 256}", "expires": None} for i in range(600)]
    lines = [x for x in export("nft", many, NOW).splitlines() if x.startswith("add element")]
    assert len(lines) == 3 and sum(x.count(",") + 1 for x in lines) == 600


def test_ipset() -> None:
    assert export("ipset", ENTRIES, NOW) == """\
create honeyswitch_blacklist hash:ip family inet timeout 0 -exist
create honeyswitch_blacklist6 hash:ip family inet6 timeout 0 -exist
flush honeyswitch_blacklist
flush honeyswitch_blacklist6
add honeyswitch_blacklist 192.0.2.1 timeout 0 -exist
add honeyswitch_blacklist 192.0.2.100 timeout 60 -exist
add honeyswitch_blacklist 198.51.100.20 timeout 3600 -exist
add honeyswitch_blacklist6 2001:db8::2 timeout 0 -exist
add honeyswitch_blacklist6 2001:db8::10 timeout 1 -exist
"""


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown export format 'iptables'"):
        export("iptables", ENTRIES, NOW)


def _can_load() -> bool:
    import os
    import shutil

    return os.geteuid() == 0 and all(shutil.which(t) for t in ("nft", "ipset", "unshare"))


@pytest.mark.root
@pytest.mark.skipif(not _can_load(), reason="needs root, nft, ipset and unshare")
def test_the_kernel_accepts_both_files_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    (tmp_path / "bl.nft").write_text(export("nft", ENTRIES, NOW))
    (tmp_path / "bl.ipset").write_text(export("ipset", ENTRIES, NOW))
    script = ("set -e; nft -f bl.nft; nft -f bl.nft; nft list set inet honeyswitch honeyswitch_blacklist6;"
              " ipset restore < bl.ipset; ipset restore < bl.ipset; ipset list honeyswitch_blacklist")
    # A fresh network namespace: the host's firewall is never touched.
    out = subprocess.run(["unshare", "--net", "sh", "-c", script], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    assert "2001:db8::10 timeout 1s" in out and "198.51.100.20 timeout" in out
