"""Optional dependencies: what each extra brings, and the one-line error when it is missing.

``pip install honeyswitch`` alone runs the daemon with the shipped rules (the rule
parser is a core dependency).  Three parts need more:

- ``anomaly`` (numpy): the anomaly model, ``train``, ``score`` and ``anomaly_model``;
- ``hyperscan``: the fast multi-pattern prefilter; without it a pure-Python one runs;
- ``cluster`` (redis-py): ``[cluster]``, several hosts sharing one defence through Redis.

``detect`` installs both.  A missing one is a :class:`MissingExtra`, a
:class:`~honeyswitch.config.ConfigError`: the CLI prints it as one line naming the
extra, and a reload that would need it is refused with the same line.
"""
from __future__ import annotations

import importlib.util

from .config import ConfigError

EXTRAS = {
    "anomaly": ("numpy", "the anomaly model (train, score, anomaly_model)"),
    "hyperscan": ("hyperscan", "the hyperscan prefilter (faster signature matching)"),
    "cluster": ("redis", "[cluster] (sharing blacklist, scores and switches through Redis)"),
}


class MissingExtra(ConfigError):
    """An optional dependency is not installed; the message says how to install it."""


def missing_message(extra: str) -> str:
    module, feature = EXTRAS[extra]
    return (f"{feature} needs the Python package {module!r}, which is not installed: "
            f"pip install 'honeyswitch[{extra}]'")


def installed(extra: str) -> bool:
    return importlib.util.find_spec(EXTRAS[extra][0]) is not None


def require(extra: str) -> None:
    """Raise :class:`MissingExtra` unless ``extra``'s package can be imported."""
    if not installed(extra):
        raise MissingExtra(missing_message(extra))
