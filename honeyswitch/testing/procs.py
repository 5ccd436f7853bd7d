"""Real server programs started for tests and the demo (redis-server, ...)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    _wait(lambda: socket.create_connection((host, port), timeout=0.5).close(), f"{host}:{port}", timeout)


def wait_unix(path: str | Path, timeout: float = 10.0) -> None:
    def connect() -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(path))
    _wait(connect, str(path), timeout)


def _wait(connect: Callable[[], None], where: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connect()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {where} after {timeout}s")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_started(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 20.0) -> None:
    """Until ``proc`` listens on 127.0.0.1:``port``; its log's tail if it exits first."""
    name = Path(str(proc.args[0] if isinstance(proc.args, list) else proc.args)).name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"{name} did not start listening on port {port}")


@dataclass
class Program:
    """A server program started for a test: its directory, loopback port and process."""

    dir: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"


class RedisServer:
    """A throw-away redis-server on loopback: no persistence, its own directory."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError("redis-server is not installed")
        self.port = port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
             "--protected-mode", "no", "--logfile", str(workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)
