"""Detection settings: per-service detector keys, ``[detect]``, ``[[ids]]``, ``[scoring]``.

Parsed by :mod:`honeyswitch.config` with its one-line errors; here are the typed results
and the checks that belong to detection (known IDS formats, readable files).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..scoring.engine import ScoringConfig
from .ids.scoring import ScoreConfig

if TYPE_CHECKING:
    from ..config import _Reader

PROTOCOLS = ("", "http", "redis", "ftp", "smtp", "pop3", "imap", "telnet", "ssh", "mysql", "line")
IDS_FORMATS = ("suricata-eve", "suricata-fast", "snort2-fast", "snort2-csv", "snort3-fast",
               "snort3-json", "snort3-csv")
DEFAULT_RULES = "default"  # the ruleset shipped with honeyswitch


@dataclass(frozen=True, slots=True)
class ServiceDetection:
    rules: tuple[str, ...] = ()  # rule files; "default" is the shipped ruleset
    protocol: str = ""  # application protocol ("" = guess from port / first bytes)
    anomaly_model: Path | None = None
    anomaly_score: float = 60.0  # score of an alert at the model's threshold
    request_end: bytes | None = None  # where a request can be scored before the reply


@dataclass(frozen=True, slots=True)
class IdsSource:
    name: str
    format: str
    path: Path
    start: str = "end"  # "end" | "beginning"
    poll_interval: float = 0.05
    csv_fields: str = "default"
    scores: ScoreConfig = field(default_factory=ScoreConfig)


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    classification: Path | None = None  # classification.config (else the standard table)
    ids: tuple[IdsSource, ...] = ()
    scoring: ScoringConfig = field(default_factory=ScoringConfig)


SERVICE_KEYS = {"rules", "protocol", "anomaly_model", "anomaly_score", "dry_run"}
_REQUEST_END = {"http": b"\r\n\r\n", "smtp": b"\n", "pop3": b"\n", "imap": b"\n", "ftp": b"\n",
                "telnet": b"\n", "line": b"\n"}


def service_detection(r: _Reader, base: Path) -> ServiceDetection:
    rules = []
    for item in r.get("rules", list, []):
        if not isinstance(item, str) or not item:
            r.fail("rules", f"must be a list of rule file paths or \"{DEFAULT_RULES}\", not {item!r}")
        if item == DEFAULT_RULES:
            rules.append(item)
            continue
        path = Path(item).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            r.fail("rules", f"{path}: no such rule file")
        rules.append(str(path))
    protocol = r.choice("protocol", PROTOCOLS, "")
    model = None
    if "anomaly_model" in r.table:
        model = r.path("anomaly_model", "", base)
        if not model.is_file():
            r.fail("anomaly_model", f"{model}: no such model file (make one with `honeyswitch train`)")
    return ServiceDetection(
        rules=tuple(rules),
        protocol=protocol,
        anomaly_model=model,
        anomaly_score=r.number("anomaly_score", 60.0),
        request_end=_REQUEST_END.get(protocol),
    )


def ids_source(r: _Reader, base: Path) -> IdsSource:
    name = r.get("name", str, "")
    if not name:
        r.fail("name", "is required")
    fmt = r.choice("format", IDS_FORMATS, "suricata-eve")
    if "path" not in r.table:
        r.fail("path", "is required")
    try:
        scores = ScoreConfig.from_mapping(r.get("scores", dict, {}), f"{r.prefix}.scores")
    except ValueError as e:
        raise type(e)(str(e)) from None
    return IdsSource(
        name=name,
        format=fmt,
        path=r.path("path", "", base),
        start=r.choice("start", ("end", "beginning"), "end"),
        poll_interval=r.number("poll_interval", 0.05, minimum=0.001),
        csv_fields=r.get("csv_fields", str, "default"),
        scores=scores,
    )


IDS_KEYS = {"name", "format", "path", "start", "poll_interval", "csv_fields", "scores"}
SCORING_KEYS = {"half_life", "blacklist_threshold", "incident_gap", "source_switch"}


def scoring(r: _Reader) -> ScoringConfig:
    return ScoringConfig(
        half_life=r.number("half_life", 600.0, minimum=0.001),
        blacklist_threshold=r.number("blacklist_threshold", 200.0),
        incident_gap=r.number("incident_gap", 900.0, minimum=0.001),
        source_switch=r.get("source_switch", bool, True),
    )


def parse(data: dict[str, Any], reader: type[_Reader], src: str, base: Path) -> DetectionConfig:
    det = reader(src, "detect", data.get("detect", {}), {"classification"})
    classification = None
    if "classification" in det.table:
        classification = det.path("classification", "", base)
        if not classification.is_file():
            det.fail("classification", f"{classification}: no such file")
    raw_ids = data.get("ids", [])
    if not isinstance(raw_ids, list):
        reader(src, "ids", {}, set()).fail("", "must be [[ids]] tables")
    sources = []
    for i, table in enumerate(raw_ids):
        r = reader(src, f"ids[{i}]", table, IDS_KEYS)
        try:
            sources.append(ids_source(r, base))
        except ValueError as e:
            if type(e).__name__ == "ConfigError":
                raise
            r.fail("scores", str(e).split(": ", 1)[-1])
    names = [s.name for s in sources]
    for i, name in enumerate(names):
        if names.index(name) != i:
            reader(src, f"ids[{i}]", {}, set()).fail("name", f"{name!r} already used")
    return DetectionConfig(
        classification=classification,
        ids=tuple(sources),
        scoring=scoring(reader(src, "scoring", data.get("scoring", {}), SCORING_KEYS)),
    )
