"""The first process of a decoy, already inside its network and mount namespaces
(``nsenter --net=... unshare --mount --propagation private python -m
honeyswitch.intercept.decoyinit SPEC``): apply the limits, make the private view of the
decoy's files, report what was applied, then become the decoy's command.

The view: an overlay mounted over the files directory itself, with the lower layer the
real files and the upper layer in the decoy's state directory, so the decoy sees and
writes its usual paths while every write lands in the state directory, which ``decoy
down`` deletes.  Where overlay cannot be mounted, a copy in the state directory is bind
mounted there instead.  The mount namespace is private: the host never sees either.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    files = make_view(spec)  # before the limits: copying may need more than the decoy
    report = {"files": files, "limits": apply_limits(spec)}
    report_path = Path(spec["state"]) / "init.json"
    tmp = report_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report))
    tmp.replace(report_path)  # the parent waits for this file: write it whole
    os.chdir(spec["files"] or spec["state"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        os.execvp(spec["argv"][0], spec["argv"])
    except OSError as e:
        print(f"decoy: cannot start {spec['argv'][0]}: {e.strerror}", file=sys.stderr)
        return 127


def apply_limits(spec: dict[str, Any]) -> dict[str, str]:
    """Join the prepared cgroup v2 group if there is one, else set rlimits; returns what
    was applied per limit, in words, for ``decoy status``."""
    cgroup = spec.get("cgroup")
    if cgroup:
        try:
            Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
            return {k: f"cgroup v2 {v}" for k, v in spec.get("cgroup_limits", {}).items()}
        except OSError as e:
            print(f"decoy: cgroup not joined ({e.strerror}); using rlimits", file=sys.stderr)
    return _rlimits(spec)


def _rlimits(spec: dict[str, Any]) -> dict[str, str]:
    done: dict[str, str] = {}
    if spec.get("memory"):
        # Address space, not resident memory: the nearest rlimit; generous programs that
        # map much more than they touch need a higher value than under a cgroup.
        resource.setrlimit(resource.RLIMIT_AS, (spec["memory"], spec["memory"]))
        done["memory"] = f"rlimit AS {spec['memory']}"
    if spec.get("pids"):
        resource.setrlimit(resource.RLIMIT_NPROC, (spec["pids"], spec["pids"]))
        note = " (not enforced for root)" if os.geteuid() == 0 else ""
        done["pids"] = f"rlimit NPROC {spec['pids']}{note}"
    if spec.get("cpu"):
        # No rlimit caps a CPU share (RLIMIT_CPU kills after total seconds); lower the
        # priority instead so the decoy yields to main.
        os.nice(10)
        done["cpu"] = "nice 10 (a CPU share needs cgroup v2)"
    return done


def make_view(spec: dict[str, Any]) -> str:
    """Mount the private view of ``files``; returns "overlay", "copy" or "none"."""
    files = spec.get("files")
    if not files:
        return "none"
    state = Path(spec["state"])
    upper, work = state / "upper", state / "work"
    upper.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    opts = f"lowerdir={files},upperdir={upper},workdir={work}"
    if not any(c in files for c in ",:") and _mount(["-t", "overlay", "overlay", "-o", opts, files]):
        return "overlay"
    copy = state / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(files, copy, symlinks=True)
    if not _mount(["--bind", str(copy), files]):
        raise SystemExit(f"decoy: cannot mount a private view over {files}")
    return "copy"


def _mount(args: list[str]) -> bool:
    res = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        print(f"decoy: mount {' '.join(args)}: {res.stderr.strip()}", file=sys.stderr)
    return res.returncode == 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
