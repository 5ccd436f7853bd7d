"""Reloading the config (SIGHUP): new sessions get the new settings, a bad file changes nothing."""
from __future__ import annotations

import asyncio

from honeyswitch.app import App
from honeyswitch.config import load
from honeyswitch.reload import reload_config
from honeyswitch.testing import servers
from honeyswitch.testing.harness import EventCapture, connect


def _write(path, listen_port: int, main_url: str, honeypot_url: str, extra: str = "") -> None:
    path.write_text(f"""
[[service]]
name = "s"
listen = "127.0.0.1:{listen_port}"
main = "{main_url}"
honeypot = "{honeypot_url}"
{extra}
[control]
listen = ""
""")


async def test_reload_applies_to_new_sessions_and_refuses_a_bad_file(tmp_path, make_server):
    main_a = await make_server(servers.echo(b"A:"))
    main_b = await make_server(servers.echo(b"B:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg_path = tmp_path / "honeyswitch.toml"
    _write(cfg_path, 0, main_a.url, honeypot.url)
    app = App(load(cfg_path))
    events = EventCapture(app)
    await app.start()
    try:
        port = app.listening("s")[0][1]
        reader, writer = await connect(app)
        writer.write(b"1")
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"A:1"

        _write(cfg_path, port, main_b.url, honeypot.url)  # same listener, new main
        reload_config(app)
        ok = await events.wait_for("config_reload")
        assert ok["ok"] is True
        writer.write(b"2")  # the live session keeps the main it started with
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"A:2"
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"3")
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"B:3"
        writer.close()

        _write(cfg_path, port, main_a.url, honeypot.url, 'align = "fast"')
        reload_config(app)
        refused = events.of_type("config_reload", ok=False)
        assert refused and "align" in refused[0]["error"]
        assert app.config.service("s").main.url == main_b.url  # unchanged
    finally:
        await app.stop()


async def test_rules_that_fail_to_load_refuse_the_reload_and_keep_the_detectors(tmp_path, make_server):
    main = await make_server(servers.echo(b"M:"))
    honeypot = await make_server(servers.echo(b"H:"))
    cfg_path = tmp_path / "honeyswitch.toml"
    _write(cfg_path, 0, main.url, honeypot.url, 'rules = ["default"]')
    app = App(load(cfg_path))
    events = EventCapture(app)
    await app.start()
    try:
        before = app.detectors
        port = app.listening("s")[0][1]
        model = tmp_path / "bad.npz"
        model.write_bytes(b"not a model")  # exists, so the file parses; loading it fails
        _write(cfg_path, port, main.url, honeypot.url, f'rules = ["default"]\nanomaly_model = "{model}"')
        reload_config(app)  # returns at once: rules and models load in a thread
        refused = await events.wait_for("config_reload", timeout=30)
        assert refused["ok"] is False and "anomaly_model" in refused["error"]
        assert app.detectors is before
        reader, writer = await connect(app)  # the relay went on with the old detectors
        writer.write(b"x")
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"M:x"
        writer.close()
    finally:
        await app.stop()


def test_a_reload_keeps_the_cluster_and_says_what_waits_for_a_restart(tmp_path):
    from dataclasses import replace

    from honeyswitch.reload import restart_needed

    path = tmp_path / "honeyswitch.toml"
    _write(path, 0, "tcp://127.0.0.1:1", "tcp://127.0.0.1:2", extra='[cluster]\nredis = "redis://127.0.0.1:1"\nhost = "a"\n')
    old = load(path)
    _write(path, 0, "tcp://127.0.0.1:1", "tcp://127.0.0.1:2", extra='[cluster]\nredis = "redis://127.0.0.1:1"\nhost = "b"\n')
    new = load(path)
    assert old.cluster is not None and restart_needed(old, new) == ["cluster"]
    assert restart_needed(old, replace(new, cluster=old.cluster)) == []
