"""Fixtures of the TLS tests: a throwaway PKI and client contexts that trust it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from honeyswitch.testing.certs import CertAuthority


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("pki")
    ca = CertAuthority(d)
    return {"dir": d, "ca": ca, "web": ca.issue("www.example.test", names=("127.0.0.1", "localhost")),
            "api": ca.issue("api.example.test"), "main": ca.issue("main.internal", names=("127.0.0.1",)),
            "honeypot": ca.issue("honeypot.internal", names=("127.0.0.1",))}
