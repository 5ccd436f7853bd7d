"""PAYL-style payload anomaly detection: model, training, persistence, inline detector.

Public API::

    fit(requests, ModelConfig(...), service) -> AnomalyModel   # calibrated threshold
    AnomalyModel.score(request_bytes) -> Score                  # .total .anomalous .reason()
    save_model(model, path) / load_model(path)                  # versioned npz, no pickle
    RequestSplitter(cap).feed("client"|"server", data) -> [Request]
    collect("dir"|"pcap"|"transcripts", location, ...) -> TrainingSet; train_model(...)
    AnomalyDetector({service: model}, {service: AlertPolicy(...)})   # InlineDetector
"""
from __future__ import annotations

from . import _needs  # noqa: F401  (first: numpy missing is one line naming the extra)
from .detector import AlertPolicy, AnomalyDetector, AnomalyInspector
from .features import Shape
from .fit import fit, score_many
from .model import AnomalyModel, ModelConfig, Score
from .persist import load_model, save_model
from .requests import Request, RequestSplitter, split_stream
from .train import TrainingSet, collect, train_model

__all__ = [
    "AlertPolicy", "AnomalyDetector", "AnomalyInspector", "AnomalyModel", "ModelConfig",
    "Request", "RequestSplitter", "Score", "Shape", "TrainingSet", "collect", "fit",
    "load_model", "save_model", "score_many", "split_stream", "train_model",
]
