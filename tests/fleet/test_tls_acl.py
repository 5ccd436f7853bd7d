"""rediss:// with a CA made by the test, an ACL user limited to honeyswitch's keys and
commands (the one docs/cluster.md recommends), and a unix socket."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fleetlab import decisions_and_a_switch_cross, eventually

from honeyswitch.testing import require
from honeyswitch.testing.redisprocs import RedisProc, TlsFiles, make_tls

# The ACL of docs/cluster.md, for the default prefix.
ACL = ("user default off\n"
       "user honeyswitch on >s3cret-pass ~{honeyswitch}:* resetchannels -@all "
       "+@connection +@read +@write +@stream +@scripting -@dangerous\n")


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    require.program("openssl")
    return make_tls(tmp_path / "tls")


@pytest.fixture
def tls_redis(tmp_path: Path, tls: TlsFiles) -> Any:
    require.program("redis-server")
    server = RedisProc(tmp_path / "redis-tls", tls=tls, acl=ACL)
    yield server
    server.stop()


async def test_rediss_with_an_acl_user(tls_redis: RedisProc, tls: TlsFiles, node: Any) -> None:
    url = tls_redis.url("honeyswitch", "s3cret-pass")
    assert url.startswith("rediss://")
    a, fa = await node("a", url, tls_ca=str(tls.ca))
    b, fb = await node("b", url, tls_ca=str(tls.ca), tls_cert=str(tls.client_cert), tls_key=str(tls.client_key))
    await decisions_and_a_switch_cross(a, fa, b, fb, "198.51.100")
    assert fa.health()["redis"] == tls_redis.url("honeyswitch", "***")  # no password shown


async def test_wrong_password_is_an_outage_with_its_reason(tls_redis: RedisProc, tls: TlsFiles,
                                                           node: Any) -> None:
    a, fa = await node("a", tls_redis.url("honeyswitch", "wrong"), tls_ca=str(tls.ca), wait=False)
    await eventually(lambda: fa.state == "down", 3.0, "a says it cannot get in")
    assert "WRONGPASS" in fa.health()["last_error"] or "Authentication" in fa.health()["last_error"]
    assert a.events[0]["event_type"] == "cluster_down"


async def test_password_file_and_an_untrusted_ca(tmp_path: Path, tls_redis: RedisProc, tls: TlsFiles,
                                                 node: Any) -> None:
    secret = tmp_path / "redis.pass"
    secret.write_text("s3cret-pass\n")
    a, _ = await node("a", tls_redis.url("honeyswitch", "in-file"), tls_ca=str(tls.ca), password_file=str(secret))
    assert a.fleet is not None and a.fleet.health()["state"] == "up"
    other = make_tls(tmp_path / "other-ca")  # a server this CA never signed is refused
    _, fb = await node("b", tls_redis.url("honeyswitch", "s3cret-pass"), tls_ca=str(other.ca), wait=False)
    await eventually(lambda: fb.state == "down", 3.0, "b refuses the server's certificate")
    assert "certificate" in fb.health()["last_error"].lower()


async def test_unix_socket(tmp_path: Path, node: Any) -> None:
    require.program("redis-server")
    server = RedisProc(tmp_path / "redis-unix", unix=True)
    try:
        a, _ = await node("a", server.url())
        b, _ = await node("b", server.url())
        a.list_ip("198.51.100.43", "over a unix socket")
        await eventually(lambda: b.is_listed("198.51.100.43"), 1.0, "b gets it")
    finally:
        server.stop()
