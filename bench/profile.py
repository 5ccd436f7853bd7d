"""``python -m bench.profile``: what one operation costs the proxy, in counts that do
not depend on how busy the machine is.

A fixed number of operations (new connections, or ping-pong round trips) goes through
one configuration, and the proxy's counters over exactly that load are divided by it:

- CPU µs per operation (``/proc``; noisy on a shared machine, but the same clock as
  ``make bench``);
- system calls and context switches per operation (``perf stat`` on the proxy's pid,
  when perf is installed);
- with ``--callgrind``: user-space instructions per operation (``valgrind
  --tool=callgrind``, instrumentation switched on only around the load), repeatable to
  a fraction of a percent, and the functions they were spent in;
- with ``--py-spy``: where the Python time goes (py-spy's collapsed stacks, summed by
  function, own and inclusive).

    python -m bench.profile connrate --total 2000
    python -m bench.profile pingpong --rounds 400 --callgrind
    python -m bench.profile pingpong --target haproxy
    python -m bench.profile bulk --honeypot-buffer 64MiB --perf   # per MB
    HONEYSWITCH_PURE=1 python -m bench.profile connrate --callgrind   # the pure-Python modules

Under valgrind the proxy runs ~50x slower: keep the counts small (hundreds).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .detection import DEFAULT_RULES_DIR
from .procs import REPO, Proc, cpu_times, raise_nofile, stop_all, total_cpu, wait_port
from .servers import start_pair
from .targets import Target
from .targets.haproxy import HAProxy
from .targets.honeyswitch import HS, Honeyswitch

# case: (backends, load); bulk counts megabytes (an iperf3 upload of --seconds).
CASES = {"connrate": ("http", "churn"), "pingpong": ("echo", "pingpong"), "bulk": ("bulk", "iperf3")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--target", default="hs-mirror", choices=("haproxy", "hs-mirror", "hs-detect"))
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--total", type=int, default=1000, help="connrate: connections")
    ap.add_argument("--rounds", type=int, default=200, help="pingpong: round trips per connection")
    ap.add_argument("--seconds", type=float, default=3.0, help="bulk: seconds of upload")
    ap.add_argument("--honeypot-buffer", metavar="SIZE", help="honeypot_buffer of the services")
    ap.add_argument("--callgrind", action="store_true", help="run the proxy under callgrind")
    ap.add_argument("--py-spy", dest="pyspy", action="store_true", help="sample the proxy with py-spy")
    ap.add_argument("--perf", action="store_true", help="sample the proxy with perf record (kernel and user)")
    ap.add_argument("--top", type=int, default=30, help="functions shown")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    return ap.parse_args(argv)


def load(case: str, port: int, args: argparse.Namespace, scale: float = 1.0) -> dict[str, Any]:
    mode = CASES[case][1]
    if mode == "iperf3":
        time.sleep(0.3)  # the honeypot's iperf3 may still be closing the last test
        secs = max(1, round(args.seconds * scale))
        res = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(secs), "-J"],
                             capture_output=True, text=True, timeout=secs + 60)
        data = json.loads(res.stdout)
        if "error" in data:
            raise RuntimeError(f"iperf3: {data['error']}")
        mb = sum(iv["sum"]["bytes"] for iv in data["intervals"]) / 1e6
        return {"ops": mb, "errors": 0, "seconds": float(secs)}
    argv = [sys.executable, "-m", "bench.tools.fixed", mode, "--port", str(port), "--conns", str(args.conns)]
    if mode == "churn":
        argv += ["--total", str(max(args.conns, int(args.total * scale)))]
    else:
        argv += ["--rounds", str(max(1, int(args.rounds * scale)))]
    res = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=3600)
    if res.returncode != 0:
        raise RuntimeError(f"load failed: {res.stderr.strip()[-500:]}")
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    if out["errors"]:
        raise RuntimeError(f"load had {out['errors']} errors")
    return out


def start_target(args: argparse.Namespace, kind: str, work: Path) -> tuple[Target, Any]:
    pairs = {kind: start_pair(kind, work)}
    if args.target == "haproxy":
        target: Target = HAProxy(pairs, work)
        target.start()
        return target, pairs[kind]
    hs = Honeyswitch(args.target, pairs, work, rules_dir=Path(DEFAULT_RULES_DIR),
                     honeypot_buffer=args.honeypot_buffer)
    hs.prepare()
    if not hs.available:
        raise SystemExit(f"{args.target}: {hs.note}")
    prefix: list[str] = []
    if args.callgrind:
        prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
                  f"--callgrind-out-file={work / 'callgrind.out'}"]
    hs.eve_path.touch()
    hs.proc = Proc(hs.name, prefix + HS + ["run", "-c", str(hs.config)], hs.work / "daemon.log",
                   cwd=hs.work, env=dict(os.environ))
    for port in (hs.api_port, *hs.ports.values()):
        wait_port(port, 600 if args.callgrind else 300, hs.proc)
    return hs, pairs[kind]


def user_sys(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of ``pids`` (all threads)."""
    times = [cpu_times(pid) for pid in pids]
    return sum(t[0] for t in times), sum(t[1] for t in times)


def main_thread_cpu(pids: list[int]) -> float:
    """CPU seconds of the processes' main threads only (the event loops; the rest is the
    records' writer thread and the like)."""
    return sum(sum(cpu_times(pid, thread=pid)) for pid in pids)


def perf_stat(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    if shutil.which("perf") is None:
        return None
    return subprocess.Popen(["perf", "stat", "-x", ",", "-o", str(out), "-e",
                             "raw_syscalls:sys_enter,context-switches", "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_counts(proc: subprocess.Popen[bytes] | None, out: Path) -> dict[str, float]:
    if proc is None:
        return {}
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    counts: dict[str, float] = {}
    for line in out.read_text().splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].strip().replace(".", "").isdigit():
            counts[parts[2]] = float(parts[0])
    return counts


def callgrind(pid: int, *opts: str) -> None:
    subprocess.run(["callgrind_control", *opts, str(pid)], capture_output=True, timeout=600, check=True)


def callgrind_report(work: Path, top: int) -> tuple[dict[str, int], str]:
    """Instructions of each thread in the dump (``callgrind.out.1-NN``, one file per
    thread), and the top functions of them all."""
    dumps = sorted(work.glob("callgrind.out.1-*"))
    per_thread: dict[str, int] = {}
    for f in dumps:
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith("totals:") and int(line.split()[1]):
                per_thread[f.name.rsplit("-", 1)[1]] = int(line.split()[1])
    used = [str(f) for f in dumps if f.name.rsplit("-", 1)[1] in per_thread]
    if not used:
        return per_thread, ""
    res = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=99", *used],
                         capture_output=True, text=True, timeout=300)
    lines = [ln for ln in res.stdout.splitlines() if re.match(r"\s*[\d,]+ \(", ln)]
    return per_thread, "\n".join(lines[: top + 1])


def pyspy_report(raw: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [re.sub(r" \(.*?\)", "", f) for f in stack.split(";")]
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    rows = [f"{total} samples", "own%   incl%  function"]
    for name, n in own.most_common(top):
        rows.append(f"{100 * n / total:5.1f}  {100 * incl[name] / total:5.1f}  {name}")
    rows.append("inclusive:")
    for name, n in incl.most_common(top):
        rows.append(f"{100 * own[name] / total:5.1f}  {100 * n / total:5.1f}  {name}")
    return "\n".join(rows)


def perf_report(data: Path, top: int) -> str:
    """The proxy's samples by symbol, kernel and user space: where system time goes."""
    res = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort",
                          "dso,sym", "--percent-limit", "0.5"], capture_output=True, text=True, timeout=300)
    rows = [ln for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    by_dso = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso"],
                            capture_output=True, text=True, timeout=300)
    dsos = [ln for ln in by_dso.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    return "\n".join(["by library:", *dsos[:8], "by function:", *rows[:top]])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile()
    kind = CASES[args.case][0]
    work = Path(tempfile.mkdtemp(prefix="hs-profile-"))
    try:
        target, _pair = start_target(args, kind, work)
        port = target.port(kind)
        pid = target.pids()[0]
        load(args.case, port, args, scale=0.1)  # warm up: imports, caches, first connections
        if args.callgrind:
            callgrind(pid, "--zero")
            callgrind(pid, "--instr=on")
        spy = None
        if args.pyspy:
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid), *(["--native"] if os.environ.get("PYSPY_NATIVE") else []),
                                    "-r", "400", "-f", "raw", "-o", str(work / "pyspy.raw")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        record = None
        if args.perf:
            record = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-o",
                                       str(work / "perf.data"), "-p", str(pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        stat = perf_stat(pid, work / "perf.txt")
        cpu0 = total_cpu(target.pids())
        us0 = user_sys(target.pids())
        loop0 = main_thread_cpu(target.pids())
        result = load(args.case, port, args)
        # The last sessions' ends and records (the writer lingers; valgrind is slow).
        time.sleep(8.0 if args.callgrind else 0.5)
        cpu = total_cpu(target.pids()) - cpu0
        us1 = user_sys(target.pids())
        loop_cpu = main_thread_cpu(target.pids()) - loop0
        counts = perf_counts(stat, work / "perf.txt")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        if record is not None:
            record.send_signal(signal.SIGINT)
            record.wait(60)
        threads: dict[str, int] = {}
        table = ""
        if args.callgrind:
            callgrind(pid, "--instr=off")
            callgrind(pid, "--dump")
            threads, table = callgrind_report(work, args.top)
        ops = result["ops"]
        unit = "MB" if args.case == "bulk" else "operations"
        print(f"{args.target} {args.case}: {ops:.0f} {unit} in {result['seconds']:.2f} s")
        print(f"  proxy CPU µs/op      {cpu / ops * 1e6:10.1f}   (user {(us1[0] - us0[0]) / ops * 1e6:.1f}, "
              f"system {(us1[1] - us0[1]) / ops * 1e6:.1f})")
        print(f"  main thread µs/op    {loop_cpu / ops * 1e6:10.1f}   (other threads {(cpu - loop_cpu) / ops * 1e6:.1f})")
        for name, value in counts.items():
            print(f"  {name + '/op':<20} {value / ops:10.2f}")
        if threads:
            total = sum(threads.values())
            per = ", ".join(f"thread {t}: {n / ops:,.0f}" for t, n in threads.items())
            print(f"  instructions/op      {total / ops:10,.0f}   (callgrind, user space; {per})")
            print(table)
        if spy is not None and (work / "pyspy.raw").exists():
            print(pyspy_report(work / "pyspy.raw", args.top))
        if record is not None and (work / "perf.data").exists():
            print(perf_report(work / "perf.data", args.top))
        return 0
    finally:
        stop_all()
        if args.keep:
            print(f"work directory {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
