"""Priorities and scores: ``classification.config`` and the priority -> score mapping.

A rule's priority is its ``priority`` option, else its classtype's priority from
``classification.config``, else 3 (Suricata's default).  Its score is
``metadata: honeyswitch_score N`` if present, else looked up by priority.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PRIORITY = 3
_LINE = re.compile(r"^\s*config\s+classification\s*:\s*([^,\s]+)\s*,[^,]*,\s*(\d{1,3})\s*$")

# The standard Snort/Suricata classification table (short name -> priority).
DEFAULT_CLASSIFICATION: Mapping[str, int] = {
    "not-suspicious": 3, "unknown": 3, "bad-unknown": 2, "attempted-recon": 2,
    "successful-recon-limited": 2, "successful-recon-largescale": 2, "attempted-dos": 2,
    "successful-dos": 2, "attempted-user": 1, "unsuccessful-user": 1, "successful-user": 1,
    "attempted-admin": 1, "successful-admin": 1, "rpc-portmap-decode": 2,
    "shellcode-detect": 1, "string-detect": 3, "suspicious-filename-detect": 2,
    "suspicious-login": 2, "system-call-detect": 2, "tcp-connection": 4,
    "trojan-activity": 1, "unusual-client-port-connection": 2, "network-scan": 3,
    "denial-of-service": 2, "non-standard-protocol": 2, "protocol-command-decode": 3,
    "web-application-activity": 2, "web-application-attack": 1, "misc-activity": 3,
    "misc-attack": 2, "icmp-event": 3, "inappropriate-content": 1, "policy-violation": 1,
    "default-login-attempt": 2, "targeted-activity": 1, "exploit-kit": 1,
    "external-ip-check": 2, "domain-c2": 1, "pup-activity": 2,
    "credential-theft": 1, "social-engineering": 2, "coin-mining": 2,
    "command-and-control": 1,
}


def parse_classification(text: str) -> dict[str, int]:
    """``config classification: name,description,priority`` lines -> {name: priority}."""
    table: dict[str, int] = {}
    for line in text.splitlines()[:10000]:
        m = _LINE.match(line)
        if m:
            table[m.group(1)] = int(m.group(2))
    return table


def load_classification(path: str | Path) -> dict[str, int]:
    """Read a classification.config file (raises OSError if unreadable)."""
    return parse_classification(Path(path).read_text(encoding="utf-8", errors="replace"))


@dataclass(frozen=True, slots=True)
class ScorePolicy:
    """Maps a rule's priority to the score its alerts add."""

    by_priority: Mapping[int, float] = field(
        default_factory=lambda: {1: 100.0, 2: 60.0, 3: 30.0, 4: 10.0})
    default: float = 10.0

    def score(self, priority: int, override: float | None = None) -> float:
        if override is not None:
            return override
        return float(self.by_priority.get(priority, self.default))
