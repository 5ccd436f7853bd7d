"""PROXY v2 towards the backends carries the TLS facts of a terminated session: SNI
(as AUTHORITY), ALPN, and the SSL TLV with version and cipher."""
from __future__ import annotations

import asyncio

from tlshelp import client_ctx, tls_table

from honeyswitch.relay.proxyproto import (
    PP2_SUBTYPE_SSL_CIPHER,
    PP2_SUBTYPE_SSL_VERSION,
    PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY,
    PP2_TYPE_SSL,
    parse_v2,
)
from honeyswitch.testing import servers
from honeyswitch.testing.harness import address, make_config, running


async def test_proxy_v2_carries_sni_alpn_and_version(tmp_path, make_server, pki) -> None:
    main, honeypot = await make_server(servers.echo()), await make_server(servers.sink())
    cfg = make_config(tmp_path, [{"name": "web", "main": main.url, "honeypot": honeypot.url, "tls": tls_table(pki["web"]),
                                  "main_proxy_protocol": "v2", "honeypot_proxy_protocol": "v2"}])
    async with running(cfg) as (app, events):
        host, port = address(app)
        reader, writer = await asyncio.open_connection(host, port, ssl=client_ctx(pki, alpn=["http/1.1"]),
                                                       server_hostname="www.example.test")
        writer.write(b"ping\n")
        await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()
        await events.wait_for("session_end")
        await honeypot.wait_conns(1)
    for backend in (main, honeypot):
        parsed = parse_v2(bytes(backend.conns[0].received))
        assert parsed is not None
        _, tlvs, length = parsed
        assert tlvs[PP2_TYPE_AUTHORITY] == b"www.example.test" and tlvs[PP2_TYPE_ALPN] == b"http/1.1"
        assert tlvs[PP2_SUBTYPE_SSL_VERSION] == b"TLSv1.3" and tlvs[PP2_SUBTYPE_SSL_CIPHER].startswith(b"TLS_")
        assert tlvs[PP2_TYPE_SSL][0] == 0x01  # PP2_CLIENT_SSL
    # then the client's plaintext
    assert bytes(main.conns[0].received)[length:].startswith(b"ping\n")
