"""The pure and small parts of decoys: names, network steps, rules, cgroup files; and
transparent sockets on loopback."""
from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from honeyswitch.intercept import cgroup, decoynet
from honeyswitch.intercept.settings import DecoyConfig
from honeyswitch.intercept.transparent import (
    IP_TRANSPARENT,
    open_connection_from,
    transparent_listener,
)
from honeyswitch.testing import require

D = DecoyConfig("web", ("nginx",), ipaddress.IPv4Interface("198.18.100.2/30"), memory=64 << 20, pids=32, cpu=0.5)


def test_names_fit_interface_limits():
    long = "a" * 32
    for name in ("web", long):
        assert len(decoynet.veth_host(name)) <= 15 and len(decoynet.veth_decoy(name)) <= 15
    assert decoynet.veth_host("web") != decoynet.veth_host("web2")
    assert decoynet.netns("web") == "honeyswitch-web"


def test_setup_steps():
    host, dec = decoynet.veth_host("web"), decoynet.veth_decoy("web")
    assert [s.argv for s in decoynet.setup_steps(D)] == [
        ("ip", "netns", "add", "honeyswitch-web"),
        ("ip", "-n", "honeyswitch-web", "link", "set", "lo", "up"),
        ("ip", "link", "add", host, "type", "veth", "peer", "name", dec, "netns", "honeyswitch-web"),
        ("ip", "addr", "add", "198.18.100.1/30", "dev", host),
        ("ip", "link", "set", host, "up"),
        ("ip", "-n", "honeyswitch-web", "addr", "add", "198.18.100.2/30", "dev", dec),
        ("ip", "-n", "honeyswitch-web", "link", "set", dec, "up"),
    ]
    assert all(s.may_fail for s in decoynet.teardown_steps("web"))


def test_rules_drop_what_the_decoy_starts():
    inside = decoynet.decoy_rules()
    assert "policy drop;" in inside and 'oif "lo" accept' in inside and "established,related accept" in inside
    host = decoynet.host_rules("web")
    table = decoynet.host_table("web")
    assert host.startswith(f"table {table} {{\n}}\ndelete table {table}\n")
    assert f'iifname "{decoynet.veth_host("web")}" drop' in host and "hook forward" in host
    assert decoynet.remove_host_rules("web") == f"table {table} {{\n}}\ndelete table {table}\n"


def test_cgroup_files():
    assert cgroup.wanted(D) == {"memory.max": str(64 << 20), "pids.max": "32", "cpu.max": "50000 100000"}


def test_cgroup_v2_group_is_prepared_when_the_controllers_exist(tmp_path: Path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    group, limits = cgroup.prepare(D, root=tmp_path)
    assert group == str(tmp_path / "honeyswitch" / "decoy-web")
    assert (tmp_path / "honeyswitch" / "decoy-web" / "cpu.max").read_text() == "50000 100000"
    assert (tmp_path / "honeyswitch" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert limits == {"memory": f"memory.max {64 << 20}", "pids": "pids.max 32", "cpu": "cpu.max 50000 100000"}


def test_no_cgroup_v2_means_rlimits(tmp_path: Path):
    assert cgroup.prepare(D, root=tmp_path) == (None, {})  # no cgroup.controllers: v1/hybrid
    (tmp_path / "cgroup.controllers").write_text("hugetlb\n")
    assert cgroup.prepare(D, root=tmp_path) == (None, {})  # controllers bound elsewhere
    plain = DecoyConfig("x", ("true",), D.address)
    assert cgroup.prepare(plain, root=tmp_path) == (None, {})  # nothing to limit


@pytest.mark.root
def test_transparent_listener_and_connection_from_an_address():
    require.root()
    listener = transparent_listener("127.0.0.1", 0)
    with listener:
        assert listener.getsockopt(socket.SOL_IP, IP_TRANSPARENT) == 1
        port = listener.getsockname()[1]

        async def main() -> tuple[str, int]:
            loop = asyncio.get_running_loop()
            transport, _ = await open_connection_from(
                loop, asyncio.Protocol, ("127.0.0.2", 0), ("127.0.0.1", port))
            conn, peer = await loop.sock_accept(listener)
            conn.close()
            transport.close()
            return peer

        peer = asyncio.run(main())
        assert peer[0] == "127.0.0.2"  # the server saw the address we connected from


@pytest.mark.root
def test_connection_from_another_family_fails_cleanly():
    require.root()

    async def main() -> None:
        await open_connection_from(asyncio.get_running_loop(), asyncio.Protocol, ("::1", 0), ("127.0.0.1", 9))

    with pytest.raises(OSError):
        asyncio.run(main())


VIEW = """
import json, sys
from pathlib import Path
from honeyswitch.intercept.decoyinit import make_view
spec = json.loads(sys.argv[1])
mode = make_view(spec)
Path(spec["files"], "written").write_text("by the decoy")
print(mode, sorted(p.name for p in Path(spec["files"]).iterdir()))
"""


@pytest.mark.root
@pytest.mark.parametrize("dirname, mode", [("files", "overlay"), ("odd:name", "copy")])
def test_private_view_overlay_or_copy(tmp_path: Path, dirname: str, mode: str):
    """Overlay options cannot carry a ':' in a path: such a directory gets a copy."""
    require.root()
    require.program("unshare")
    files, state = tmp_path / dirname, tmp_path / "state"
    files.mkdir()
    state.mkdir()
    (files / "seed").write_text("real")
    spec = json.dumps({"files": str(files), "state": str(state)})
    res = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", VIEW, spec],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == mode and "'written'" in res.stdout  # the decoy saw its write
    assert sorted(p.name for p in files.iterdir()) == ["seed"]  # the host did not
    assert (files / "seed").read_text() == "real"
