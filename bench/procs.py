"""Processes the bench starts: start, wait until ready, read their output, stop.

Every process the bench starts is tracked here so that it is stopped (by its own pid,
never by name) however the run ends.  CPU time and RSS come from ``/proc``: on a 2-core
VM shared by load generator, proxy and backends, CPU-seconds per unit of work are the
steadiest comparison (see the performance notes).
"""
from __future__ import annotations

import os
import queue
import resource
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent  # tools run as `python -m bench.tools.X` from here
_LIVE: list[Proc] = []


def raise_nofile() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: 5,000 sessions need 15,000 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: Proc | None = None) -> None:
    """Until something accepts on 127.0.0.1:port; fails early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}) before listening; {proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def cpu_times(pid: int, thread: int | None = None) -> tuple[float, float]:
    """(user, system) CPU seconds of a whole process (all its threads), or of one of its
    threads; zeros if it is gone."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        stat = Path(path).read_text()
    except OSError:
        return 0.0, 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a whole process (all its threads), to the nanosecond: the kernel's
    CPU-time clock of the process (``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``, what
    clock_getcpuclockid(3) gives), not /proc's clock ticks, so that a short fixed load
    does not round to nothing.  0.0 if it is gone."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)
    except OSError:
        return sum(cpu_times(pid))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (nginx's worker under its master)."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def total_cpu(pids: Sequence[int]) -> float:
    return sum(cpu_seconds(p) for p in pids)


class Proc:
    """One child process; its stdout as lines (``pipe=True``) or to a log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, *, pipe: bool = False,
                 stdin: bool = False, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self.lines: queue.Queue[str] = queue.Queue()
        err = open(log, "ab")  # noqa: SIM115 - the child keeps it; closed with the process
        self.popen = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE if pipe else err, stderr=err,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            cwd=cwd, env=env, start_new_session=True,
        )
        err.close()
        # The bench raised its own limit, which children inherit; prlimit says so
        # explicitly for each child (preexec_fn is not safe with the reader threads).
        try:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.prlimit(self.pid, resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            pass
        _LIVE.append(self)
        if pipe:
            threading.Thread(target=self._read, name=f"read-{name}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))

    def line(self, timeout: float) -> str:
        """The next line of output; raises TimeoutError (the wait is bounded)."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.name}: no output in {timeout:.1f}s; {self.tail()}") from None

    def drain(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.lines.get_nowait())
            except queue.Empty:
                return out

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode())
        self.popen.stdin.flush()

    def tail(self, n: int = 400) -> str:
        try:
            data = self.log.read_bytes()[-n:]
        except OSError:
            return ""
        return f"log {self.log}: " + data.decode("utf-8", "replace").strip().replace("\n", " | ")

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self in _LIVE:
            _LIVE.remove(self)


def stop_all() -> None:
    """Stop every process still running, newest first (proxies before backends)."""
    for proc in reversed(list(_LIVE)):
        proc.stop(timeout=10)
