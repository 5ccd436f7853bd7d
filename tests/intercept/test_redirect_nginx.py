"""Same host, redirect: two real nginx (main, honeypot) behind honeyswitch on the server
host; a client in another namespace talks to port 80 and is switched mid-session on one
keep-alive connection."""
from __future__ import annotations

import pytest
from nslab import Daemon, hs, http_get, start_nginx, write_config

from honeyswitch.testing import netns

pytestmark = pytest.mark.root
SERVER, CLIENT = "198.18.0.1", "198.18.0.2"


def requests_in(log: str) -> list[str]:
    return [line for line in log.splitlines() if '"GET ' in line]


def test_switch_mid_session_main_logs_the_real_client_and_gets_a_reset(lab, tmp_path):
    srv, cli = lab.ns("srv"), lab.ns("cli")
    lab.link(srv, f"{SERVER}/30", cli, f"{CLIENT}/30")
    main = start_nginx(lab, srv, tmp_path / "main", "127.0.0.1:8080", "main")
    honeypot = start_nginx(lab, srv, tmp_path / "honeypot", "127.0.0.1:8081", "hpot")
    cfg = write_config(tmp_path / "hs.toml", [{
        "name": "web", "listen": "0.0.0.0:8400", "intercept": "redirect", "intercept_ports": [80],
        "main": "tcp://127.0.0.1:8080", "honeypot": "tcp://127.0.0.1:8081",
        "main_proxy_protocol": "v2", "honeypot_proxy_protocol": "v2",
        "align": "quiet",  # the two copies answer differently
    }])
    hs(srv, cfg, "firewall", "apply")
    daemon = Daemon(lab, srv, cfg)

    with netns.connect(cli, (SERVER, 80)) as sock:
        assert http_get(sock) == b"main\n"
        assert http_get(sock) == b"main\n"
        start = daemon.wait_event("session_start")
        assert (start["src_ip"], start["dest_ip"], start["dest_port"]) == (CLIENT, SERVER, 80)
        assert "switched" in daemon.cli("switch", "--client", CLIENT).stdout
        assert http_get(sock) == b"hpot\n"  # same connection, same address: the honeypot
        assert http_get(sock) == b"hpot\n"
    end = daemon.wait_event("session_end")
    assert end["state"] == "honeypot" and end["switched"] is True

    # Main served the two requests before the switch and saw the real client through
    # PROXY protocol; the honeypot saw all four (mirrored, then its own).
    main_log = requests_in((main / "access.log").read_text())
    assert len(main_log) == 2 and all(line.startswith(f"{CLIENT} 127.0.0.1 ") for line in main_log)
    hp_log = requests_in((honeypot / "access.log").read_text())
    assert len(hp_log) == 4 and all(line.startswith(f"{CLIENT} ") for line in hp_log)
    # Main's connection ended with a reset, not a close.
    assert "reset by peer" in (main / "error.log").read_text()
