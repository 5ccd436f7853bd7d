"""A cgroup v2 group for a decoy's limits, when the host allows it.

Used only when ``/sys/fs/cgroup`` is a writable cgroup v2 tree offering the controllers
the limits need; otherwise :mod:`.decoyinit` falls back to rlimits and ``decoy status``
says which applied.  Groups live under ``/sys/fs/cgroup/honeyswitch/``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from .settings import DecoyConfig

log = logging.getLogger(__name__)
ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD = 100_000  # microseconds, cgroup v2's default cpu.max period


def wanted(d: DecoyConfig) -> dict[str, str]:
    """Controller file -> value for the decoy's limits (pure)."""
    out = {}
    if d.memory is not None:
        out["memory.max"] = str(d.memory)
    if d.pids is not None:
        out["pids.max"] = str(d.pids)
    if d.cpu is not None:
        out["cpu.max"] = f"{max(1000, round(d.cpu * CPU_PERIOD))} {CPU_PERIOD}"
    return out


def prepare(d: DecoyConfig, root: Path = ROOT) -> tuple[str | None, dict[str, str]]:
    """Create the decoy's group with its limits: (group path, limit -> what was set), or
    (None, {}) when cgroup v2 cannot be used here."""
    files = wanted(d)
    if not files:
        return None, {}
    controllers = {name.split(".")[0] for name in files}
    try:
        available = set((root / "cgroup.controllers").read_text().split())
    except OSError:
        return None, {}  # no cgroup v2 at the root (cgroup v1 or hybrid)
    if not controllers <= available:
        return None, {}
    enable = " ".join(f"+{c}" for c in sorted(controllers))
    parent, group = root / "honeyswitch", root / "honeyswitch" / f"decoy-{d.name}"
    try:
        (root / "cgroup.subtree_control").write_text(enable)
        parent.mkdir(exist_ok=True)
        (parent / "cgroup.subtree_control").write_text(enable)
        group.mkdir(exist_ok=True)
        for name, value in files.items():
            (group / name).write_text(value)
    except OSError as e:
        log.info("decoy %s: cgroup v2 not usable (%s); rlimits instead", d.name, e.strerror)
        remove(str(group))
        return None, {}
    limits = {"memory": "memory.max", "pids": "pids.max", "cpu": "cpu.max"}
    return str(group), {k: f"{f} {files[f]}" for k, f in limits.items() if f in files}


def remove(group: str) -> None:
    """Remove an (empty) group; its processes may take a moment to leave it."""
    path = Path(group)
    if path.parent != ROOT / "honeyswitch":
        return  # never anything but our own groups, whatever a state file says
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    log.warning("cgroup %s not removed (still in use)", group)
