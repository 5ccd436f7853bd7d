"""The real daemon as a process, for tests that drive it the way an operator does:
a config file on disk, ``honeyswitch run`` as a child, the CLI and the control API
against it, and echo servers (in a thread of their own) as main and honeypot.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import servers
from .procs import free_port, wait_port

HS = (sys.executable, "-m", "honeyswitch")
TOKEN = "test-token"


def write_config(tmp: Path, main_port: int, hp_port: int, *, body: str = "", listen: int = 0,
                 api: int = 0, **control: str) -> tuple[Path, int, int]:
    """``tmp/honeyswitch.toml`` with one ``echo`` service; returns (path, listen, api).

    ``body`` is appended to the service table (e.g. ``rules = ["default"]``); the ports
    are free ones unless given; keyword arguments go into ``[control]``."""
    listen, api = listen or free_port(), api or free_port()
    control_extra = "".join(f'{k} = "{v}"\n' for k, v in control.items())
    path = tmp / "honeyswitch.toml"
    path.write_text(f"""
[[service]]
name = "echo"
listen = "127.0.0.1:{listen}"
main = "tcp://127.0.0.1:{main_port}"
honeypot = "tcp://127.0.0.1:{hp_port}"
{body}
[store]
path = "state/honeyswitch.db"
[events]
path = "log/events.jsonl"
[transcripts]
dir = "transcripts"
[blacklist]
ttl = 600
[control]
listen = "127.0.0.1:{api}"
{control_extra}""")
    return path, listen, api


class Daemon:
    """``honeyswitch run -c CONFIG`` as a child process, waited for until its API answers."""

    def __init__(self, config: Path, api_port: int, *, command: Sequence[str] = HS,
                 env: dict[str, str] | None = None, wait: bool = True) -> None:
        self.config = config
        self.api_port = api_port
        self.command = tuple(command)
        self.proc = subprocess.Popen([*self.command, "run", "-c", str(config)], stderr=subprocess.PIPE,
                                     text=True, env=env)
        if wait:
            wait_port("127.0.0.1", api_port, timeout=20)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([*self.command, *args, "-c", str(self.config)], capture_output=True,
                             text=True, timeout=30)
        if check and res.returncode != 0:
            raise AssertionError(f"honeyswitch {' '.join(args)}: {res.returncode} {res.stderr}")
        return res

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Call the control API (config token ``test-token`` unless given); JSON back."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or TOKEN}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return json.loads(raw) if resp.headers.get_content_type() == "application/json" else raw

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> str:
        """SIGTERM; asserts a clean exit and returns what it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err
        return err


@contextmanager
def echo_backends() -> Iterator[tuple[servers.TestServer, servers.TestServer]]:
    """Echo servers as main (replies ``M:...``) and honeypot (``H:...``), on a loop in a
    thread of their own, so synchronous tests can use them next to a daemon process."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, servers.TestServer] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            holder["main"] = await servers.TestServer(servers.echo(b"M:")).start()
            holder["honeypot"] = await servers.TestServer(servers.echo(b"H:")).start()
            started.set()

        loop.run_until_complete(start())
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True, name="echo-backends")
    t.start()
    if not started.wait(10):
        raise TimeoutError("echo backends did not start")
    try:
        yield holder["main"], holder["honeypot"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
