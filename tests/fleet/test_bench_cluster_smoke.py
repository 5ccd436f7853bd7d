"""bench/cluster_sync.py and bench/cluster_daemons.py still run (``--quick``: seconds)
and write their figures.  (The figures themselves are the benchmarks' business, not
this test's.)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from honeyswitch.testing import require

REPO = Path(__file__).resolve().parents[2]


def quick_run(module: str, out: Path, timeout: float) -> tuple[str, Any]:
    """``python -m MODULE --quick --json OUT``: what it printed and wrote."""
    require.program("redis-server")
    res = subprocess.run([sys.executable, "-m", module, "--quick", "--json", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout, json.loads(out.read_text())


def test_quick_run(tmp_path: Path) -> None:
    printed, doc = quick_run("bench.cluster_sync", tmp_path / "cluster.json", 90)
    assert "x the local copy" in printed and "p99" in printed
    assert doc["decisions"] == 40 and doc["blacklist_ms"]["p50"] > 0 and doc["score_ms"]["p99"] > 0
    assert doc["admission"]["redis_us"] * 1000 > doc["admission"]["local_ns"] > 0


def test_quick_run_with_real_daemons(tmp_path: Path) -> None:
    printed, doc = quick_run("bench.cluster_daemons", tmp_path / "daemons.json", 180)
    assert "Redis down" in printed and "x /" in printed
    assert doc["blacklist_ms"]["n"] == 40 and doc["switch_ms"]["n"] == 10 and doc["blacklist_ms"]["p50"] > 0
    adm = doc["admission"]
    assert all(adm[k]["p50"] > 0 and adm[k]["cpu_us"] >= 0 for k in ("standalone", "cluster_idle", "cluster", "redis_down"))
