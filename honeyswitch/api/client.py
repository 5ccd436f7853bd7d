"""A small synchronous client of the control API, for the CLI: it calls operations by
name, as :mod:`.operations` declares them."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

from ..config import Config
from . import auth
from .operations import OPERATIONS

STREAM_TIMEOUT = 60.0  # seconds a streaming read waits (the server sends keep-alives every 15 s)
STREAM_LINE_MAX = 1 << 20


class ApiError(RuntimeError):
    """A failed API call, as one line."""


class ApiClient:
    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Config) -> ApiClient:
        if config.control.listen is None:
            raise ApiError(f"{config.source}: control.listen is empty: the control API is off")
        host, port = config.control.listen
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        shown = f"[{host}]" if ":" in host else host
        return cls(f"http://{shown}:{port}", auth.token(config.control))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise ApiError(f"{method} {path}: {e.code} {_message(e)}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ApiError(f"cannot reach the control API at {self.base_url}: {reason}") from None

    def stream(self, path: str) -> Iterator[dict[str, Any]]:
        """The JSON lines of a streaming route (``/api/v1/stream``), until it ends."""
        req = urllib.request.Request(self.base_url + path)
        req.add_header("Authorization", f"Bearer {self.token}")
        try:
            # Longer than the stream's keep-alive interval: a quiet stream is not a dead one.
            with urllib.request.urlopen(req, timeout=max(self.timeout, STREAM_TIMEOUT)) as resp:
                for line in resp:
                    if len(line) > STREAM_LINE_MAX:
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        yield event
        except urllib.error.HTTPError as e:
            raise ApiError(f"GET {path}: {e.code} {_message(e)}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ApiError(f"the control API at {self.base_url}: {reason}") from None

    def op(self, name: str, **args: Any) -> dict[str, Any]:
        """Call operation ``name``: each argument goes where its declaration says."""
        op = OPERATIONS[name]
        assert op.path is not None, f"{name} has no route"
        where = {arg.name: arg.where for arg in op.args}
        unknown = set(args) - set(where)
        if unknown:
            raise TypeError(f"{name}: unknown arguments {sorted(unknown)}")
        path = op.path.format(**{k: urllib.parse.quote(str(v), safe="") for k, v in args.items()
                                 if where[k] == "path"})
        query = {k: v for k, v in args.items() if where[k] == "query" and v is not None}
        if query:
            path += "?" + urllib.parse.urlencode(query)
        body = {k: v for k, v in args.items() if where[k] == "body"}
        return self.call(op.method, path, body if op.method != "GET" else None)

    def get(self, path: str) -> dict[str, Any]:
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call("POST", path, body or {})

    def delete(self, path: str) -> dict[str, Any]:
        return self.call("DELETE", path)


def _message(e: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(e.read()).get("error", e.reason))
    except (ValueError, AttributeError, OSError):
        return str(e.reason)
