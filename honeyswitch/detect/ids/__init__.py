"""External IDS alerts: parse Suricata and Snort alert logs, follow them as they grow and
rotate, match each alert to the live sessions it concerns, and score it.

    parser = make_parser("suricata-eve")
    tailer = AlertTailer("/var/log/suricata/eve.json", parser, on_alert=handle)
    await tailer.start()            # ... await tailer.stop()
    session_ids = index.match(alert); score = AlertScorer(config).score(alert)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .alert import IdsAlert, LineParser, LineTooLong, normalise_ip
from .community import community_id, community_ids
from .eve import SuricataEveParser
from .fast import Snort2FastParser, Snort3FastParser, SuricataFastParser
from .scoring import AlertScorer, ScoreConfig, to_alert
from .sessions import SessionIndex, flow_key
from .snort2_csv import Snort2CsvParser
from .snort3 import Snort3CsvParser, Snort3JsonParser
from .tailer import AlertTailer, TailerStats

PARSERS: dict[str, Callable[..., LineParser]] = {
    "suricata-eve": SuricataEveParser,
    "suricata-fast": SuricataFastParser,
    "snort2-fast": Snort2FastParser,
    "snort2-csv": Snort2CsvParser,
    "snort3-fast": Snort3FastParser,
    "snort3-json": Snort3JsonParser,
    "snort3-csv": Snort3CsvParser,
}


def make_parser(fmt: str, **options: Any) -> LineParser:
    """A parser by format name (see :data:`PARSERS`); ``options`` go to its constructor."""
    try:
        factory = PARSERS[fmt]
    except KeyError:
        raise ValueError(f"unknown alert format {fmt!r}; one of {', '.join(PARSERS)}") from None
    return factory(**options)


__all__ = [
    "PARSERS", "AlertScorer", "AlertTailer", "IdsAlert", "LineParser", "LineTooLong",
    "ScoreConfig", "SessionIndex", "Snort2CsvParser", "Snort2FastParser", "Snort3CsvParser",
    "Snort3FastParser", "Snort3JsonParser", "SuricataEveParser", "SuricataFastParser",
    "TailerStats", "community_id", "community_ids", "flow_key", "make_parser", "normalise_ip", "to_alert",
]
