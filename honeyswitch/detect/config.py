"""Detection settings: per-service detector keys, ``[detect]``, ``[[ids]]``, ``[scoring]``.

The keys are declared here (:mod:`honeyswitch.schema`), with the typed results and the
checks that belong to detection (known IDS formats, readable files, IDS scores).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schema import (
    REQUIRED,
    Bool,
    Choice,
    ConfigError,
    Custom,
    FilePath,
    Key,
    Number,
    Section,
    Table,
    TableOf,
    Text,
    read,
    read_array,
)
from ..scoring.engine import ScoringConfig
from .ids.scoring import ScoreConfig

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


_REQUEST_END = {"http": b"\r\n\r\n", "smtp": b"\n", "pop3": b"\n", "imap": b"\n", "ftp": b"\n",
                "telnet": b"\n", "line": b"\n"}


def _rule_files(value: Any, base: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"must be list, not {type(value).__name__} {value!r}")
    rules = []
    for item in value:
        if not isinstance(item, str) or not item:
            raise ValueError(f"must be a list of rule file paths or \"{DEFAULT_RULES}\", not {item!r}")
        if item == DEFAULT_RULES:
            rules.append(item)
            continue
        path = Path(item).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise ValueError(f"{path}: no such rule file")
        rules.append(str(path))
    return tuple(rules)


SERVICE_KEYS = (
    Key("rules", Custom(_rule_files), [], 'signature files; "default" is the shipped ruleset',
        example=[DEFAULT_RULES]),
    Key("protocol", Choice(PROTOCOLS), "", "http | redis | ftp | smtp | pop3 | imap | line ... (\"\" = guess)",
        example="http"),
    Key("anomaly_model", FilePath("file", "no such model file (make one with `honeyswitch train`)"), None,
        "from `honeyswitch train`", example="models/web.npz"),
    Key("anomaly_score", Number(), 60.0, "an anomaly alert's score at the model's threshold"),
)


def service_detection(t: Table) -> ServiceDetection:
    protocol = t["protocol"]
    return ServiceDetection(rules=t["rules"], protocol=protocol, anomaly_model=t["anomaly_model"],
                            anomaly_score=t["anomaly_score"], request_end=_REQUEST_END.get(protocol))


IDS = Section("ids", (
    Key("name", Text(r".+", "a name"), REQUIRED, "names the source in alerts and /api/v1/ids", example="suricata"),
    Key("format", Choice(IDS_FORMATS), "suricata-eve",
        "suricata-eve | suricata-fast | snort2-fast | snort2-csv | snort3-fast | snort3-json | snort3-csv"),
    Key("path", FilePath(), REQUIRED, "followed like tail -F", example="/var/log/suricata/eve.json"),
    Key("start", Choice(("end", "beginning")), "end", "where to start reading at daemon start"),
    Key("poll_interval", Number(0.001), 0.05, "seconds between checks when inotify is not available"),
    Key("csv_fields", Text(), "default", "the output fields of a snort *-csv log, in order"),
    Key("scores", TableOf(), {}, "alert scores by priority, sid or classification",
        example={"priority": {"1": 100, "2": 60, "3": 30}, "sid": {"2008538": 100}}),
), array=True, doc="external IDS alert logs")

SCORING = Section("scoring", (
    Key("half_life", Number(0.001), 600.0, "seconds for a source's score to halve"),
    Key("blacklist_threshold", Number(), 200.0, "source score that blacklists it (0 = never)"),
    Key("incident_gap", Number(0.001), 900.0, "seconds of quiet that close a source's incident"),
    Key("source_switch", Bool(), True, "the request that blacklists its source is switched"),
))

DETECT = Section("detect", (
    Key("classification", FilePath("file"), None, "classification.config (default: the standard table)",
        example="/etc/suricata/classification.config"),
))


def ids_source(t: Table) -> IdsSource:
    try:
        scores = ScoreConfig.from_mapping(t["scores"], f"{t.prefix}.scores")
    except ValueError as e:  # it names the key inside the table: ids[0].scores.sid.x
        raise ConfigError(f"{t.src}: {e}") from None
    return IdsSource(name=t["name"], format=t["format"], path=t["path"], start=t["start"],
                     poll_interval=t["poll_interval"], csv_fields=t["csv_fields"], scores=scores)


def detection(data: dict[str, Any], src: str, base: Path) -> DetectionConfig:
    tables = read_array(IDS, data.get("ids", []), src, base)
    sources = [ids_source(t) for t in tables]
    names = [s.name for s in sources]
    for i, name in enumerate(names):
        if names.index(name) != i:
            tables[i].fail("name", f"{name!r} already used")
    sc = read(SCORING, data.get("scoring", {}), src, "scoring", base)
    return DetectionConfig(
        classification=read(DETECT, data.get("detect", {}), src, "detect", base)["classification"],
        ids=tuple(sources),
        scoring=ScoringConfig(half_life=sc["half_life"], blacklist_threshold=sc["blacklist_threshold"],
                              incident_gap=sc["incident_gap"], source_switch=sc["source_switch"]),
    )
