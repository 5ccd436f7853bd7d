"""The shipped Grafana dashboard (``packaging/grafana/honeyswitch.json`` of a source
checkout) as its tests read it: every panel's PromQL, and the metrics they name."""
from __future__ import annotations

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "packaging" / "grafana" / "honeyswitch.json"
CLUSTER = "honeyswitch_cluster_"  # the metrics only a daemon with [cluster] has


def queries() -> list[str]:
    """Every target's PromQL, the dashboard's variables filled in (rows have none)."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "5s").replace("$service", ".*") for e in exprs]


def metrics(*, cluster: bool) -> list[str]:
    """The metric names the panels query: the cluster's (``cluster=True``) or the rest."""
    names = {m for e in queries() for m in re.findall(r"honeyswitch_\w+", e)}
    return sorted(m for m in names if m.startswith(CLUSTER) == cluster)
