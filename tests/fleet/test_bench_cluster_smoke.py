"""bench/cluster_sync.py still runs (``--quick``: a few seconds) and writes its figures.
(The figures themselves are the benchmark's business, not this test's.)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from honeyswitch.testing import require

REPO = Path(__file__).resolve().parents[2]


def test_quick_run(tmp_path: Path) -> None:
    require.program("redis-server")
    out = tmp_path / "cluster.json"
    res = subprocess.run([sys.executable, "-m", "bench.cluster_sync", "--quick", "--json", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "x the local copy" in res.stdout and "p99" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["decisions"] == 40 and doc["blacklist_ms"]["p50"] > 0 and doc["score_ms"]["p99"] > 0
    assert doc["admission"]["redis_us"] * 1000 > doc["admission"]["local_ns"] > 0
