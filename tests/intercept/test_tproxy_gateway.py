"""Gateway, tproxy: client, gateway (honeyswitch), main host and honeypot host, each a
namespace.  The client talks to main's address; the gateway takes the connection with
the generated rules, and main and honeypot see the client's real address (transparent
upstream).  After the switch the client still talks to "main's address" and is served by
the honeypot host, which cannot reach the main host."""
from __future__ import annotations

import pytest
from nslab import Daemon, hs, write_config

from honeyswitch.testing import netns

pytestmark = pytest.mark.root
CLIENT, MAIN, HONEYPOT = "198.18.0.2", "198.18.1.2", "198.18.2.2"
PORT = 7000


talk = netns.line_answer


@pytest.fixture
def gateway(lab):
    cli, gw, main, hp = lab.ns("cli"), lab.ns("gw"), lab.ns("main"), lab.ns("hp")
    for ns, net in ((cli, "198.18.0"), (main, "198.18.1"), (hp, "198.18.2")):
        lab.link(gw, f"{net}.1/30", ns, f"{net}.2/30")
        lab.route(ns, "default", f"{net}.1")
    lab.forwarding(gw)
    lab.line_server(main, "main", "0.0.0.0", PORT)
    lab.line_server(hp, "honeypot", "0.0.0.0", PORT)
    return cli, gw, main, hp


def test_client_keeps_main_address_and_is_served_by_the_honeypot_host(lab, gateway, tmp_path):
    cli, gw, main, hp = gateway
    assert netns.can_connect(hp, (MAIN, PORT))  # plain routing works before our rules
    cfg = write_config(tmp_path / "hs.toml", [{
        "name": "svc", "listen": "0.0.0.0:8400", "intercept": "tproxy", "transparent_upstream": True,
        "main": f"tcp://{MAIN}:{PORT}", "honeypot": f"tcp://{HONEYPOT}:{PORT}", "align": "quiet",
    }])
    hs(gw, cfg, "firewall", "apply")
    daemon = Daemon(lab, gw, cfg)

    with netns.connect(cli, (MAIN, PORT)) as sock:
        assert talk(sock, b"hello\n") == f"main {CLIENT}: hello\n".encode()
        start = daemon.wait_event("session_start")
        assert (start["src_ip"], start["dest_ip"], start["dest_port"]) == (CLIENT, MAIN, PORT)
        daemon.cli("switch", "--client", CLIENT)
        # Same connection, still to main's address; the honeypot host answers, and it too
        # saw the client's own address.
        assert talk(sock, b"again\n") == f"honeypot {CLIENT}: again\n".encode()
        assert sock.getpeername() == (MAIN, PORT)
    daemon.wait_event("session_end")

    # The client is blacklisted now: a new connection to main's address goes straight to
    # the honeypot host.
    with netns.connect(cli, (MAIN, PORT)) as sock:
        assert talk(sock, b"back\n") == f"honeypot {CLIENT}: back\n".encode()

    assert not netns.can_connect(hp, (MAIN, PORT))  # the honeypot host cannot reach main
    assert netns.can_connect(cli, (HONEYPOT, PORT))  # (the rule is that narrow)
