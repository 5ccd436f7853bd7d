"""Run settings: how long and how often each case runs (``--quick`` for a smoke)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    runs: int = 3
    quick: bool = False
    bulk_seconds: int = 3  # iperf3 -t, after 1 s omitted for TCP ramp-up
    pingpong_seconds: float = 2.5
    pingpong_warmup: float = 0.5
    connrate_seconds: int = 3
    rss_sessions: int = 5000
    switch_samples: int = 60  # per run and configuration
    rules_dir: Path = Path()
    out_dir: Path = Path()
    honeypot_buffer: str | None = None  # None: honeyswitch's default
    eve_template: str | None = None
    budget_seconds: float = 1800.0  # remaining runs are skipped (with a note) past this

    @classmethod
    def quick_settings(cls, **kw: object) -> Settings:
        return cls(runs=1, quick=True, bulk_seconds=1, pingpong_seconds=0.8, pingpong_warmup=0.2,
                   connrate_seconds=1, rss_sessions=300, switch_samples=8, **kw)  # type: ignore[arg-type]
