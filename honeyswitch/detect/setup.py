"""Building the configured detectors: signature rules and anomaly models per service.

Services that name the same rule files share one compiled :class:`SignatureDetector`
(and so one prefilter database).  Problems are :class:`ConfigError` lines naming the
service key; rules a file holds but we cannot run are skipped and counted, as Suricata
does, and logged at start.  :class:`Detectors` gives each new session its
:class:`~.base.Inspection`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..config import ConfigError
from .base import ErrorReport, FlowInfo, InlineDetector, Inspection, StreamInspector
from .config import DEFAULT_RULES

if TYPE_CHECKING:
    from ..config import Config, ServiceConfig

log = logging.getLogger(__name__)


class Detectors:
    """The inline detectors of each service, as built from one config."""

    def __init__(self, by_service: Mapping[str, Sequence[InlineDetector]] | None = None) -> None:
        self.by_service = {name: tuple(dets) for name, dets in (by_service or {}).items() if dets}

    @classmethod
    def build(cls, config: Config) -> Detectors:
        """Load and compile the config's rules and models; raises ConfigError."""
        return cls(build_detectors(config))

    def inspection(self, service: str, flow: FlowInfo, on_error: ErrorReport) -> Inspection | None:
        """The new session's inspection by its service's detectors (None: it has none).

        A detector that cannot even start inspecting is reported like one that fails
        later, and the session goes on without it."""
        detectors = self.by_service.get(service)
        if detectors is None:
            return None
        parts: list[tuple[str, StreamInspector]] = []
        for det in detectors:
            try:
                parts.append((det.name, det.new_stream(flow)))
            except Exception as e:
                log.error("detector %s failed: %s: %s", det.name, type(e).__name__, e, exc_info=e)
                on_error(det.name, e)
        return Inspection(parts, on_error) if parts else None


def build_detectors(config: Config) -> dict[str, list[InlineDetector]]:
    """The inline detectors of each service (possibly none)."""
    out: dict[str, list[InlineDetector]] = {s.name: [] for s in config.services}
    for detector, names in _signature_detectors(config):
        for name in names:
            out[name].append(detector)
    anomaly = _anomaly_detector(config)
    if anomaly is not None:
        for svc in config.services:
            if svc.detection.anomaly_model is not None:
                out[svc.name].append(anomaly)
    return out


def _signature_detectors(config: Config) -> list[tuple[InlineDetector, list[str]]]:
    groups: dict[tuple[str, ...], list[ServiceConfig]] = {}
    for svc in config.services:
        if svc.detection.rules:
            groups.setdefault(svc.detection.rules, []).append(svc)
    if not groups:
        return []
    from .signatures import SignatureDetector, default_rules_path, hyperscan_available, load_ruleset

    if not hyperscan_available():
        log.info("hyperscan is not installed: signatures use the pure-Python prefilter (%s)",
                 "pip install 'honeyswitch[hyperscan]' for the fast one")

    built: list[tuple[InlineDetector, list[str]]] = []
    for files, services in groups.items():
        paths = [default_rules_path() if f == DEFAULT_RULES else f for f in files]
        try:
            ruleset = load_ruleset(paths, classification=config.detection.classification)
        except OSError as e:
            raise ConfigError(f"{config.source}: service {services[0].name!r}: rules: {e}") from None
        _log_skips(services, ruleset)
        protocols = {s.name: s.detection.protocol for s in services if s.detection.protocol}
        detector = SignatureDetector(ruleset, protocols=protocols)
        detector.warm([(s.detection.protocol, port) for s in services
                       for port in {p for _, p in s.listen if p} | set(s.intercept_ports)])
        built.append((detector, [s.name for s in services]))
    return built


def _log_skips(services: Sequence[ServiceConfig], ruleset: object) -> None:
    names = ", ".join(s.name for s in services)
    skipped = getattr(ruleset, "skipped", ())
    log.info("rules for %s: %d loaded, %d skipped", names, ruleset.loaded, len(skipped))  # type: ignore[attr-defined]
    for reason, items in ruleset.by_reason()[:10]:  # type: ignore[attr-defined]
        log.info("  skipped %d: %s", len(items), reason)


def _anomaly_detector(config: Config) -> InlineDetector | None:
    services = [s for s in config.services if s.detection.anomaly_model is not None]
    if not services:
        return None
    from ..extras import MissingExtra

    try:
        from .anomaly import AlertPolicy, AnomalyDetector, load_model
    except MissingExtra as e:
        raise MissingExtra(f"{config.source}: service {services[0].name!r}: anomaly_model: {e}") from None

    models, policies = {}, {}
    for svc in services:
        det = svc.detection
        try:
            models[svc.name] = load_model(det.anomaly_model)  # type: ignore[arg-type]
        except (OSError, ValueError) as e:
            raise ConfigError(f"{config.source}: service {svc.name!r}: anomaly_model: {e}") from None
        try:
            policies[svc.name] = AlertPolicy(base=det.anomaly_score, cap=max(100.0, det.anomaly_score),
                                             request_end=det.request_end)
        except ValueError as e:
            raise ConfigError(f"{config.source}: service {svc.name!r}: anomaly_score: {e}") from None
    return AnomalyDetector(models, policies)
