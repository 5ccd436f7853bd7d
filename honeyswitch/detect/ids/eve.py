"""Suricata EVE JSON: one event per line; only ``event_type: "alert"`` is an alert.

``src_ip``/``dest_ip`` come from the packet that fired the rule (half the time the
server's reply, ``"direction": "to_client"``); Suricata 7 adds the client->server view in
``flow.{src_ip,dest_ip,src_port,dest_port}`` (``alert.flow`` is read too).  With
``community-id: true`` the alert carries the flow's Community ID.
"""
from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

from .alert import (
    MAX_LINE,
    IdsAlert,
    check_length,
    clean_text,
    flow_view,
    normalise_ip,
    parse_int,
    parse_port,
    raw_excerpt,
)
from .stamps import parse_iso

_DIRECTIONS = ("to_server", "to_client")


class SuricataEveParser:
    """Parses EVE lines; other event types give ``None``, broken lines ``ValueError``."""

    def __init__(
        self, sensor: str = "suricata-eve", tz: tzinfo | None = None, max_line: int = MAX_LINE
    ) -> None:
        self.name = sensor
        self._tz = tz
        self._max_line = max_line

    def parse_line(self, line: str) -> IdsAlert | None:
        line = check_length(line, self._max_line)
        event = _load(line)
        kind = event.get("event_type")
        if not isinstance(kind, str):
            raise ValueError("not an EVE event: no event_type")
        if kind != "alert":
            return None
        alert = event.get("alert")
        if not isinstance(alert, dict):
            raise ValueError("alert event without an alert object")
        return self._build(event, alert, line)

    def _build(self, event: dict[str, Any], alert: dict[str, Any], line: str) -> IdsAlert:
        src = (_ip(event, "src_ip"), _port(event, "src_port"))
        dst = (_ip(event, "dest_ip"), _port(event, "dest_port"))
        direction = _opt(event, "direction", str)
        direction = direction if direction in _DIRECTIONS else None
        category = _opt(alert, "category", str)
        return IdsAlert(
            timestamp=parse_iso(_opt(event, "timestamp", str) or "", self._tz),
            sensor=self.name,
            sid=_int(alert, "signature_id"),
            gid=_int(alert, "gid"),
            rev=_int(alert, "rev"),
            msg=clean_text(_opt(alert, "signature", str) or ""),
            classification=clean_text(category) if category else None,
            priority=_int(alert, "severity"),
            severity=_signature_severity(alert),
            proto=_proto(event),
            src_ip=src[0],
            src_port=src[1],
            dest_ip=dst[0],
            dest_port=dst[1],
            direction=direction,
            community_id=_community_id(event),
            action=_short(_opt(alert, "action", str)),
            raw=raw_excerpt(line),
            **_flow_fields(event, alert, direction, src, dst),
        )


def _load(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except RecursionError:  # "[[[[..." nested past the interpreter's limit
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and bad escapes
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError("not an EVE event: not a JSON object")
    return event


def _opt(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return None if value is None else parse_int(value, key, 1 << 64)


def _ip(obj: dict[str, Any], key: str) -> str | None:
    value = _opt(obj, key, str)
    return None if value is None else normalise_ip(value)


def _port(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return None if value is None else parse_port(value)


def _short(value: str | None) -> str | None:
    return None if value is None else clean_text(value, 64)


def _proto(event: dict[str, Any]) -> str | None:
    proto = event.get("proto")
    if isinstance(proto, int) and not isinstance(proto, bool):  # some tools write numbers
        return str(proto)
    value = _opt(event, "proto", str)
    return None if value is None else clean_text(value, 32).upper()


def _community_id(event: dict[str, Any]) -> str | None:
    value = _opt(event, "community_id", str)
    return None if value is None else clean_text(value, 64)


def _signature_severity(alert: dict[str, Any]) -> str | None:
    metadata = alert.get("metadata")
    if not isinstance(metadata, dict):
        return None
    values = metadata.get("signature_severity")
    if isinstance(values, list) and values and isinstance(values[0], str):
        return clean_text(values[0], 32)
    return None


def _flow_fields(
    event: dict[str, Any],
    alert: dict[str, Any],
    direction: str | None,
    src: tuple[str | None, int | None],
    dst: tuple[str | None, int | None],
) -> dict[str, Any]:
    """The client->server view: from ``alert.flow``/``flow`` when they name addresses,
    else from the packet's addresses and ``direction``."""
    for flow in (alert.get("flow"), event.get("flow")):
        if isinstance(flow, dict) and "src_ip" in flow and "dest_ip" in flow:
            view = (_ip(flow, "src_ip"), _port(flow, "src_port"),
                    _ip(flow, "dest_ip"), _port(flow, "dest_port"))
            break
    else:
        view = flow_view(direction, src, dst)
    keys = ("flow_src_ip", "flow_src_port", "flow_dest_ip", "flow_dest_port")
    return dict(zip(keys, view, strict=True))
