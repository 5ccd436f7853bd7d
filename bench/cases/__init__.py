"""The cases: what is measured, against which configurations, and how it is shown.

A case's ``run(ctx, target)`` measures once and returns plain numbers (it raises
:class:`~bench.targets.Skip` when it cannot run there).  The runner repeats it, and the
report takes medians and ranges of each :class:`Metric`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..servers import Pair
from ..settings import Settings
from ..targets import Target

ALL_PROXIES = ("direct", "haproxy", "hs-mirror", "hs-workers", "hs-detect", "hs-honeypot")


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    fmt: str = "{:.1f}"
    # "higher"/"lower": show ratios of this metric vs direct and vs HAProxy.
    better: str | None = None
    # Also show (value - direct) and its ratio to HAProxy's (added latency).
    added: bool = False
    # "sum": the table shows the total over the runs (counts of events), not the median.
    agg: str = "median"


@dataclass
class Context:
    settings: Settings
    pairs: dict[str, Pair]
    targets: dict[str, Target]
    work: Path
    log: Callable[[str], None] = print


RunFn = Callable[[Context, Target | None], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    backends: tuple[str, ...]
    targets: tuple[str, ...]  # () for a case that runs once, on no configuration
    run: RunFn
    metrics: tuple[Metric, ...]
    fresh: bool = False  # restart the configuration before each run (RSS of a new process)
    max_runs: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    reference: str = "haproxy"  # the configuration the "x haproxy" ratios compare with


def all_cases() -> list[Case]:
    from . import bulk, connrate, external, pingpong, rss, switch, tls

    return [*bulk.CASES, *pingpong.CASES, connrate.CASE, rss.CASE, *switch.CASES, *tls.CASES, external.CASE]
