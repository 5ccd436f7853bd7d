"""The shipped systemd unit: ``systemd-analyze`` accepts it, and the daemon runs the way
the unit starts it.

PID 1 in the test container is not systemd, so nothing can start the unit itself.  The
equivalent used here: the unit's own ``ExecStartPre``/``ExecStart``/``ExecReload`` lines,
run as an unprivileged user with exactly the unit's capabilities (ambient and bounding
set, via ``setpriv``) and ``no_new_privs``, with ``$NOTIFY_SOCKET`` on a socket this test
listens on (as systemd's is) and stderr a stream named by ``$JOURNAL_STREAM``.  The
daemon binds a port below 1024 and a transparent (tproxy) listener with those
capabilities only, says READY=1, RELOADING=1 then READY=1 on reload, and STOPPING=1.
"""
from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from honeyswitch.testing.daemon import Daemon, echo_backends, write_config
from honeyswitch.testing.procs import wait_port

UNIT = Path(__file__).resolve().parents[2] / "packaging/systemd/honeyswitch.service"
SYSUSERS = UNIT.with_name("honeyswitch.sysusers")
TMPFILES = UNIT.with_name("honeyswitch.tmpfiles")
INSTALLED = "/opt/honeyswitch/bin/honeyswitch"
analyze = shutil.which("systemd-analyze")


def unit_settings(text: str) -> dict[str, list[str]]:
    """Each ``Key=value`` of the unit (a key may repeat), section names dropped."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def unit_for(honeyswitch: Path) -> str:
    """The shipped unit with ExecStart pointing at ``honeyswitch`` instead of /opt."""
    return UNIT.read_text().replace(INSTALLED, str(honeyswitch))


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_and_security(clean_venv: Path, tmp_path: Path):
    unit = tmp_path / "honeyswitch.service"
    unit.write_text(unit_for(clean_venv / "bin/honeyswitch"))
    res = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
    res = subprocess.run([analyze, "security", "--offline=true", str(unit)], capture_output=True,
                         text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", res.stdout)
    assert m, res.stdout[-2000:] + res.stderr
    assert float(m.group(1)) <= 2.5, res.stdout  # systemd calls <= 3.9 "OK"


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers is not installed")
def test_sysusers_and_tmpfiles_snippets(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)], check=True, timeout=60)
    entry = next(line for line in (tmp_path / "etc/passwd").read_text().splitlines()
                 if line.startswith("honeyswitch:"))
    assert int(entry.split(":")[2]) < 1000  # a system user
    subprocess.run(["systemd-tmpfiles", f"--root={tmp_path}", "--create", str(TMPFILES)], check=True,
                   timeout=60)
    for d in ("var/lib/honeyswitch/transcripts", "var/log/honeyswitch"):
        st = (tmp_path / d).stat()
        assert st.st_mode & 0o777 == 0o750


class NotifySocket:
    """A datagram socket like systemd's NOTIFY_SOCKET (abstract: no file permissions)."""

    def __init__(self) -> None:
        self.name = f"@honeyswitch-test-{os.getpid()}-{os.urandom(4).hex()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(20)

    def expect(self, wanted: str) -> list[str]:
        """Messages until one holds the line ``wanted``; all of their lines."""
        seen: list[str] = []
        while True:
            lines = self.sock.recv(4096).decode().splitlines()
            seen += lines
            if wanted in lines:
                return seen


def _privileged_port() -> int:
    for port in range(980, 1020):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


@pytest.fixture
def service_dir() -> Iterator[Path]:
    """A directory the unprivileged user can reach (pytest's tmp is root's, 0700)."""
    top = Path(tempfile.mkdtemp(prefix="honeyswitch-unit-"))
    os.chmod(top, 0o755)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def _setpriv(settings: dict[str, list[str]], user: pwd.struct_passwd) -> list[str]:
    caps = settings["AmbientCapabilities"][0].split()
    assert sorted(caps) == sorted(settings["CapabilityBoundingSet"][0].split())
    names = ",".join("+" + c.removeprefix("CAP_").lower() for c in caps)
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            f"--inh-caps=-all,{names}", f"--ambient-caps=-all,{names}", f"--bounding-set=-all,{names}",
            *(["--no-new-privs"] if settings["NoNewPrivileges"] == ["yes"] else [])]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_the_daemon_runs_as_the_unit_starts_it(clean_venv: Path, service_dir: Path):
    settings = unit_settings(unit_for(clean_venv / "bin/honeyswitch"))
    assert settings["Type"] == ["notify"] and settings["User"] == ["honeyswitch"]
    user = pwd.getpwnam("nobody")  # stands in for the honeyswitch user sysusers makes
    for d in ("state", "log", "transcripts"):
        (service_dir / d).mkdir()
        os.chown(service_dir / d, user.pw_uid, user.pw_gid)
    with echo_backends() as (main, honeypot):
        port = _privileged_port()
        config, _, _ = write_config(service_dir, main.port, honeypot.port, listen=port,
                                    body='intercept = "tproxy"\nrules = ["default"]')
        os.chmod(config, 0o644)
        notify = NotifySocket()
        env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": notify.name, "HONEYSWITCH_CONFIG": str(config)}
        env.update(v.split("=", 1) for v in settings.get("Environment", []) if not v.startswith("HONEYSWITCH_CONFIG"))
        priv = _setpriv(settings, user)
        pre = subprocess.run(priv + shlex.split(settings["ExecStartPre"][0]), env=env, capture_output=True,
                             text=True, timeout=60)
        assert pre.returncode == 0, pre.stderr
        read_end, write_end = os.pipe()
        st = os.fstat(write_end)
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        proc = subprocess.Popen(priv + shlex.split(settings["ExecStart"][0]), env=env, stderr=write_end)
        os.close(write_end)
        try:
            ready = notify.expect("READY=1")
            assert any(line.startswith("STATUS=") for line in ready)
            wait_port("127.0.0.1", port)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert c.recv(100).startswith(b"M:GET")
            reload = settings["ExecReload"][0].replace("$MAINPID", str(proc.pid))
            subprocess.run(shlex.split(reload), check=True, timeout=10)
            reloading = notify.expect("RELOADING=1")
            assert any(line.startswith("MONOTONIC_USEC=") for line in reloading)
            notify.expect("READY=1")
            proc.terminate()
            notify.expect("STOPPING=1")
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            notify.sock.close()
        with os.fdopen(read_end) as f:
            log = f.read()
    lines = [line for line in log.splitlines() if line]
    assert lines and all(re.match(r"<[0-7]>", line) for line in lines), log
    assert not any(re.search(r"\d\d:\d\d:\d\d", line) for line in lines), log  # the journal stamps them
    assert os.stat(service_dir / "log/events.jsonl").st_uid == user.pw_uid


class CredNotifySocket(NotifySocket):
    """Also tells which process sent each message (SO_PASSCRED), as systemd checks
    for NotifyAccess=main."""

    def __init__(self) -> None:
        super().__init__()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.senders: set[int] = set()

    def expect(self, wanted: str) -> list[str]:
        seen: list[str] = []
        while True:
            data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    self.senders.add(int.from_bytes(payload[:4], "little"))
            lines = data.decode().splitlines()
            seen += lines
            if wanted in lines:
                return seen


@pytest.mark.parametrize("workers", [1, 2])
def test_readiness_comes_from_the_main_process_only(workers: int, tmp_path: Path):
    with echo_backends() as (main, honeypot):
        cfg, listen, api = write_config(tmp_path, main.port, honeypot.port, token="test-token")
        cfg.write_text(cfg.read_text() + f"\n[daemon]\nworkers = {workers}\nshard = \"connection\"\n")
        notify = CredNotifySocket()
        daemon = Daemon(cfg, api, env={**os.environ, "NOTIFY_SOCKET": notify.name}, wait=False)
        try:
            notify.expect("READY=1")
            with socket.create_connection(("127.0.0.1", listen), timeout=5) as c:  # ready means ready
                c.sendall(b"x")
                assert c.recv(10) == b"M:x"
            cfg.write_text(cfg.read_text().replace("[[service]]", "[[service]]\nbogus = 1", 1))
            daemon.signal(signal.SIGHUP)  # a refused reload still ends in READY=1
            notify.expect("RELOADING=1")
            notify.expect("READY=1")
            daemon.proc.terminate()
            notify.expect("STOPPING=1")
            assert daemon.proc.wait(20) == 0  # (a second TERM during the stop would kill it)
        finally:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
            notify.sock.close()
    assert notify.senders == {daemon.proc.pid}
