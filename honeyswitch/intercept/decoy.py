"""Decoys: honeypot copies of a service on an isolated "host" made of namespaces.

``up`` creates the network namespace and veth pair (:mod:`.decoynet`), the isolation
rules, an optional cgroup, and starts the command through :mod:`.decoyinit` (private
file view, limits).  Everything ``status`` and ``down`` need is kept in the decoy's
state directory (``<store dir>/decoys/NAME``), so they work from any other process.
``down`` stops every process in the namespace, removes namespace, rules and cgroup, and
deletes the state directory with every write the decoy made.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import cgroup, decoynet
from .runner import RunError, run, run_nft, run_steps
from .settings import DecoyConfig

log = logging.getLogger(__name__)
START_TIMEOUT = 10.0  # seconds for the decoy's init to report
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL


class DecoyError(RuntimeError):
    """A decoy operation failed; the message is one line."""


def state_dir(store_path: Path, name: str) -> Path:
    return store_path.parent / "decoys" / name


def find(decoys: tuple[DecoyConfig, ...], name: str) -> DecoyConfig:
    for d in decoys:
        if d.name == name:
            return d
    raise DecoyError(f"no [[decoy]] named {name!r} (defined: {', '.join(d.name for d in decoys) or 'none'})")


def up(d: DecoyConfig, sdir: Path) -> dict[str, Any]:
    """Start decoy ``d`` with its state in ``sdir``; returns its state."""
    if d.files is not None and not d.files.is_dir():
        raise DecoyError(f"decoy {d.name}: files: {d.files} is not a directory")
    old = read_state(sdir)
    if old and process_alive(old):
        raise DecoyError(f"decoy {d.name} is already up (pid {old['pid']})")
    down(d.name, sdir)  # leftovers of a crash or of a decoy that died
    sdir.mkdir(parents=True, mode=0o700)
    try:
        return _start(d, sdir)
    except BaseException:
        down(d.name, sdir)
        raise


def _start(d: DecoyConfig, sdir: Path) -> dict[str, Any]:
    ns = decoynet.netns(d.name)
    try:
        run_steps(decoynet.setup_steps(d))
        run(["ip", "netns", "exec", ns, "nft", "-f", "-"], stdin=decoynet.decoy_rules())
        run_nft(decoynet.host_rules(d.name))
    except RunError as e:
        raise DecoyError(f"decoy {d.name}: network: {e}") from None
    group, group_limits = cgroup.prepare(d)
    spec = {"argv": list(d.argv), "state": str(sdir), "files": str(d.files) if d.files else None,
            "memory": d.memory, "pids": d.pids, "cpu": d.cpu, "cgroup": group, "cgroup_limits": group_limits}
    (sdir / "spec.json").write_text(json.dumps(spec))
    with open(sdir / "decoy.log", "ab") as logf:
        # nsenter, not `ip netns exec`: that remounts /sys and so hides the cgroup tree.
        proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{ns}", "unshare", "--mount", "--propagation", "private",
             sys.executable, "-m", "honeyswitch.intercept.decoyinit", str(sdir / "spec.json")],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
        )
    state = {"name": d.name, "netns": ns, "veth": decoynet.veth_host(d.name), "address": str(d.address),
             "ip": d.ip, "host_ip": d.host_ip, "pid": proc.pid, "start_time": start_time(proc.pid),
             "cgroup": group, "started": time.time(), "log": str(sdir / "decoy.log")}
    write_state(sdir, state)  # before waiting: a `down` from elsewhere must find the pid
    state.update(_wait_init(d.name, sdir, proc))
    write_state(sdir, state)
    return state


def _wait_init(name: str, sdir: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    report = sdir / "init.json"
    while not report.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DecoyError(f"decoy {name} did not start: {_log_tail(sdir)}")
        time.sleep(0.02)
    info = json.loads(report.read_text())
    try:
        proc.wait(0.3)  # a command that fails at once should fail `up`, not look alive
    except subprocess.TimeoutExpired:
        return info
    raise DecoyError(f"decoy {name} exited at start (status {proc.returncode}): {_log_tail(sdir)}")


def down(name: str, sdir: Path) -> bool:
    """Stop decoy ``name`` and remove everything of it; False if nothing was there."""
    state = read_state(sdir)
    ns = decoynet.netns(name)
    pids = set(netns_pids(ns))
    if state and process_alive(state):
        pids.add(int(state["pid"]))
    found = bool(state) or bool(pids) or Path("/run/netns", ns).exists()
    terminate(pids)
    problems = []
    try:
        run_nft(decoynet.remove_host_rules(name))
    except RunError as e:
        problems.append(str(e))
    run_steps(decoynet.teardown_steps(name))
    if state and state.get("cgroup"):
        cgroup.remove(state["cgroup"])
    shutil.rmtree(sdir, ignore_errors=True)  # the decoy's writes go with it
    if problems:
        raise DecoyError(f"decoy {name}: {'; '.join(problems)}")
    return found


def status(d: DecoyConfig, sdir: Path) -> dict[str, Any]:
    state = read_state(sdir)
    if not state:
        return {"name": d.name, "state": "down", "address": str(d.address)}
    alive = process_alive(state)
    ns_ok = Path("/run/netns", state["netns"]).exists()
    return {**state, "state": "up" if alive and ns_ok else "dead"}


# ------------------------------------------------------------------ state and processes


def read_state(sdir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((sdir / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def write_state(sdir: Path, state: dict[str, Any]) -> None:
    tmp = sdir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(sdir / "state.json")


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks: tells a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def process_alive(state: dict[str, Any]) -> bool:
    started = start_time(int(state["pid"]))
    return started is not None and started == state.get("start_time")


def netns_pids(ns: str) -> list[int]:
    try:
        out = run(["ip", "netns", "pids", ns]).stdout
    except RunError:
        return []
    return [int(p) for p in out.split() if p.isdigit()]


def terminate(pids: set[int]) -> None:
    """SIGTERM, then SIGKILL what is left after STOP_TIMEOUT; bounded."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 2.0)):
        pids = {p for p in pids if start_time(p) is not None}
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if start_time(p) is not None}
            time.sleep(0.02)
        if not pids:
            return
    log.warning("decoy processes still alive after SIGKILL: %s", sorted(pids))


def _log_tail(sdir: Path) -> str:
    try:
        lines = (sdir / "decoy.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"
