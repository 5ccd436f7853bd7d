"""Session resumption: TLS 1.3 tickets resume within one process (and so, with
``[daemon] workers`` and ``shard = "source"``, for a client that stays on its worker);
``session_tickets = false`` turns them off."""
from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest
from tlshelp import client_ctx, tls_table

from honeyswitch.testing import servers
from honeyswitch.testing.harness import address, make_config, running


def _two_connections(host: str, port: int, ctx: ssl.SSLContext) -> tuple[bool, bool]:
    session = None
    reused = []
    for _ in range(2):
        with socket.create_connection((host, port), 5) as raw, \
                ctx.wrap_socket(raw, server_hostname="www.example.test", session=session) as tls:
            tls.sendall(b"x")
            assert tls.recv(1) == b"x"  # the ticket arrives with the first bytes after the handshake
            reused.append(tls.session_reused)
            session = tls.session
    return reused[0], reused[1]


@pytest.mark.parametrize("tickets", [True, False])
async def test_resumption(tmp_path, make_server, pki: dict[str, Any], tickets: bool) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.echo())
    cfg = make_config(tmp_path, [{"name": "web", "main": main.url, "honeypot": honeypot.url,
                                  "tls": tls_table(pki["web"], session_tickets=tickets)}])
    async with running(cfg) as (app, events):
        host, port = address(app)
        first, second = await asyncio.to_thread(_two_connections, host, port, client_ctx(pki))
        starts = events.of_type("session_start")
    assert not first and second is tickets
    assert len(starts) == 2  # a resumed handshake is a session like any other
