"""Config of transparent deployment: per-service interception keys, [firewall], [[decoy]]
and ``decoy:`` backends; every mistake is one line naming the key."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from honeyswitch.config import ConfigError, build
from honeyswitch.intercept.settings import FirewallConfig

SVC = {"name": "web", "listen": "0.0.0.0:8400", "main": "tcp://127.0.0.1:8080", "honeypot": "tcp://127.0.0.1:8081"}
DECOY = {"name": "cache", "command": "redis-server --port 6379"}


def load(service: dict[str, Any] | None = None, **top: Any):  # type: ignore[no-untyped-def]
    return build({"service": [{**SVC, **(service or {})}], **top}, "hs.toml", Path("/etc/hs"))


def test_defaults_change_nothing():
    cfg = load()
    svc = cfg.services[0]
    assert (svc.intercept, svc.intercept_ports, svc.intercept_dest, svc.transparent_upstream) == ("none", (), (), False)
    assert not svc.main.transparent and not svc.honeypot.transparent
    assert cfg.decoys == () and cfg.firewall == FirewallConfig()


def test_redirect_ports_default_to_mains_port():
    svc = load({"intercept": "redirect"}).services[0]
    assert svc.intercept_ports == (8080,) and svc.intercept_dest == ()
    svc = load({"intercept": "redirect", "intercept_ports": [80, 443, 80]}).services[0]
    assert svc.intercept_ports == (80, 443)


def test_tproxy_matches_mains_address_by_default():
    svc = load({"intercept": "tproxy", "main": "tcp://198.18.1.2:7000"}).services[0]
    assert svc.intercept_dest == ("198.18.1.2",) and svc.intercept_ports == (7000,)
    svc = load({"intercept": "tproxy", "intercept_dest": ["198.18.1.0/24", "2001:db8::1/128"]}).services[0]
    assert svc.intercept_dest == ("198.18.1.0/24", "2001:db8::1")


def test_transparent_upstream_marks_the_tcp_backends():
    svc = load({"intercept": "tproxy", "transparent_upstream": True, "honeypot": "exec:cat"}).services[0]
    assert svc.transparent_upstream and svc.main.transparent and not svc.honeypot.transparent


def test_firewall_table():
    fw = load(firewall={"blacklist_set": True, "mark": 0x10, "route_table": 77, "tool": "iptables"}).firewall
    assert fw == FirewallConfig(blacklist_set=True, mark=0x10, route_table=77, tool="iptables")


def test_decoys_and_decoy_backends():
    cfg = load({"honeypot": "decoy:cache:6379"},
               decoy=[DECOY, {"name": "web2", "command": "nginx", "address": "198.19.0.6/29",
                              "files": "srv", "memory": "64MiB", "pids": 32, "cpu": 0.5}])
    cache, web2 = cfg.decoys
    assert cache.argv == ("redis-server", "--port", "6379")
    assert cache.address == ipaddress.IPv4Interface("198.18.100.2/30") and cache.host_ip == "198.18.100.1"
    assert web2.ip == "198.19.0.6" and web2.host_ip == "198.19.0.1"
    assert web2.files == Path("/etc/hs/srv") and (web2.memory, web2.pids, web2.cpu) == (64 << 20, 32, 0.5)
    assert cfg.decoys[1].address.network.prefixlen == 29
    hp = cfg.services[0].honeypot
    assert (hp.kind, hp.host, hp.port, hp.url) == ("tcp", "198.18.100.2", 6379, "tcp://198.18.100.2:6379")
    assert load(decoy=[DECOY, {**DECOY, "name": "two"}]).decoys[1].ip == "198.18.101.2"


@pytest.mark.parametrize("service, message", [
    ({"intercept": "nat"}, "service[0].intercept: must be one of 'none', 'redirect', 'tproxy', not 'nat'"),
    ({"intercept_ports": [80]}, 'service[0].intercept_ports: needs intercept = "redirect" or "tproxy"'),
    ({"intercept_dest": ["198.18.0.1"]}, 'service[0].intercept_dest: needs intercept = "redirect" or "tproxy"'),
    ({"transparent_upstream": True}, 'service[0].transparent_upstream: needs intercept = "redirect" or "tproxy"'),
    ({"transparent_upstream": "yes", "intercept": "tproxy"}, "service[0].transparent_upstream: must be bool"),
    ({"intercept": "redirect", "listen": "0.0.0.0:0"}, "service[0].listen: intercept needs fixed listen ports"),
    ({"intercept": "redirect", "main": "unix:/run/x.sock"}, "service[0].intercept_ports: is required when main is not tcp://"),
    ({"intercept": "redirect", "intercept_ports": []}, "service[0].intercept_ports: must list at least one port"),
    ({"intercept": "redirect", "intercept_ports": [0]}, "service[0].intercept_ports: 0 is not a port 1-65535"),
    ({"intercept": "redirect", "intercept_ports": ["80"]}, "service[0].intercept_ports: '80' is not a port"),
    ({"intercept": "redirect", "intercept_ports": [True]}, "service[0].intercept_ports: True is not a port"),
    ({"intercept": "redirect", "intercept_ports": 80}, "service[0].intercept_ports: must be list"),
    ({"intercept": "tproxy", "intercept_dest": ["main-host"]}, "service[0].intercept_dest: 'main-host' is not an address or CIDR"),
    ({"honeypot": "decoy:nope:6379"}, "service[0].honeypot: no [[decoy]] named 'nope' (defined: none)"),
    ({"honeypot": "decoy:nope"}, "service[0].honeypot: decoy:nope: must be decoy:NAME:PORT"),
    ({"honeypot": "decoy:cache:99999"}, "must be decoy:NAME:PORT"),
])
def test_service_errors(service, message):
    with pytest.raises(ConfigError) as err:
        load(service)
    text = str(err.value)
    assert text.startswith("hs.toml: ") and message in text and "\n" not in text


@pytest.mark.parametrize("firewall, message", [
    ({"mark": 0}, "firewall.mark: must be an integer 1-0xffffffff, not 0"),
    ({"mark": True}, "firewall.mark: must be a number"),
    ({"route_table": 254}, "firewall.route_table: 254 is a table the kernel uses"),
    ({"tool": "pf"}, "firewall.tool: must be one of 'nft', 'iptables', not 'pf'"),
    ({"blacklist_set": 1}, "firewall.blacklist_set: must be bool"),
    ({"chains": 1}, "firewall.chains: unknown key"),
])
def test_firewall_errors(firewall, message):
    with pytest.raises(ConfigError) as err:
        load(firewall=firewall)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_local_redirect_must_not_catch_our_own_backend_connections():
    with pytest.raises(ConfigError, match=r"firewall\.local: service 'web': backend port 8080 is intercepted"):
        load({"intercept": "redirect", "intercept_ports": [80, 8080]}, firewall={"local": True})
    assert load({"intercept": "redirect", "intercept_ports": [80]}, firewall={"local": True}).firewall.local


@pytest.mark.parametrize("decoys, message", [
    ({"command": "x"}, "decoy[0].name: is required"),
    ({"name": "Web", "command": "x"}, "decoy[0].name: must be 1-32 of a-z 0-9 _ -"),
    ({"name": "a" * 33, "command": "x"}, "decoy[0].name: must be 1-32"),
    ({"name": "web"}, "decoy[0].command: is required"),
    ({"name": "web", "command": "  "}, "decoy[0].command: must not be empty"),
    ({"name": "web", "command": "sh -c 'x"}, "decoy[0].command: No closing quotation"),
    ({"name": "web", "command": "x", "address": "198.18.0.2"}, "decoy[0].address: prefix must be /8 to /30"),
    ({"name": "web", "command": "x", "address": "198.18.0.0/30"}, "decoy[0].address: 198.18.0.0 is the network or broadcast"),
    ({"name": "web", "command": "x", "address": "2001:db8::2/64"}, "decoy[0].address: must be an IPv4 address"),
    ({"name": "web", "command": "x", "memory": "lots"}, "decoy[0].memory: must be a size"),
    ({"name": "web", "command": "x", "pids": 0}, "decoy[0].pids: must be an integer 1-"),
    ({"name": "web", "command": "x", "cpu": 0}, "decoy[0].cpu: must be >= 0.01"),
    ({"name": "web", "command": "x", "user": "nobody"}, "decoy[0].user: unknown key"),
])
def test_decoy_errors(decoys, message):
    with pytest.raises(ConfigError) as err:
        load(decoy=[decoys])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_decoys_must_not_share_a_name_or_a_network():
    with pytest.raises(ConfigError, match=r"decoy\[1\]\.name: 'cache' already used"):
        load(decoy=[DECOY, DECOY])
    with pytest.raises(ConfigError, match=r"decoy\[1\]\.address: 198.18.100.1/24 overlaps decoy 'cache'"):
        load(decoy=[DECOY, {"name": "b", "command": "x", "address": "198.18.100.1/24"}])
    with pytest.raises(ConfigError, match=r"decoy: must be \[\[decoy\]\] tables"):
        load(decoy={"name": "x"})
