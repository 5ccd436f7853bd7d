"""The control API's bearer token: from the config, or a file the daemon creates."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..config import ConfigError, ControlConfig


def token(control: ControlConfig, *, create: bool = False) -> str:
    """The token; with ``create`` (the daemon) a missing token file is made, mode 0600."""
    if control.token:
        return control.token
    path = control.token_file
    if path is None:
        raise ConfigError("control: no token and no token_file")
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        if not create:
            raise ConfigError(f"control.token_file: {path} does not exist (is the daemon running?)") from None
        return _create(path)
    except OSError as e:
        raise ConfigError(f"control.token_file: cannot read {path}: {e.strerror}") from None
    if not text:
        raise ConfigError(f"control.token_file: {path} is empty")
    return text


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
