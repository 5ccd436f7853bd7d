"""Helpers the cases share: CPU snapshots of the processes in play, waiting on a tool's
output, and percentiles."""
from __future__ import annotations

import resource
from dataclasses import dataclass

from ..procs import Proc, total_cpu
from ..targets import Target
from . import Context


@dataclass
class CpuSnapshot:
    """CPU seconds of the proxy, the backends of one kind, and finished children (the
    load tool, once it has been waited for)."""

    proxy: float
    backends: float
    children: float


def snapshot(ctx: Context, target: Target, kind: str) -> CpuSnapshot:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(total_cpu(target.pids()), total_cpu(ctx.pairs[kind].pids()), ru.ru_utime + ru.ru_stime)


def cpu_delta(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
    return {"proxy_cpu_s": b.proxy - a.proxy, "backend_cpu_s": b.backends - a.backends,
            "client_cpu_s": b.children - a.children}


def expect(proc: Proc, prefix: str, timeout: float) -> str:
    """The next output line of ``proc`` that starts with ``prefix`` (bounded wait)."""
    for _ in range(100):  # a tool prints a handful of lines; more means something is wrong
        if proc.popen.poll() is not None and proc.lines.empty():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); {proc.tail()}")
        line = proc.line(timeout)
        if line.startswith(prefix):
            return line
    raise RuntimeError(f"{proc.name}: no line starting with {prefix!r}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
