"""Reloading the config on SIGHUP without dropping live sessions.

New sessions use the new settings; live sessions keep the ones they started with.
Listeners whose addresses changed are reopened; services removed from the file stop
listening.  A bad file, or rules and models that fail to load, change nothing: the
error is logged and recorded.  What a reload may do to the daemon is
:class:`ReloadTarget`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
from typing import Any, Protocol

from .config import Config, ConfigError, ServiceConfig, load
from .detect.setup import Detectors
from .events import make_event
from .tasks import spawn

log = logging.getLogger(__name__)


class ReloadTarget(Protocol):
    @property
    def config(self) -> Config: ...
    @property
    def binds_listeners(self) -> bool:
        """False in a worker, whose sockets its supervisor bound once, at start."""
        ...

    def use(self, config: Config, detectors: Detectors) -> None: ...
    async def relisten(self, service: ServiceConfig) -> None:
        """Listen on the service's (new) addresses; raises OSError."""
        ...

    def unlisten(self, name: str) -> None: ...
    def record(self, event: dict[str, Any]) -> None: ...


def reload_config(target: ReloadTarget) -> None:
    try:
        new = load(target.config.source)
    except ConfigError as e:
        _refuse(target, e)
        return
    waiting = restart_needed(target.config, new)
    if waiting:
        log.warning("reload: changes to %s take effect at the next restart", ", ".join(waiting))
    spawn(_apply(target, new, waiting), name="reload")


def restart_needed(old: Config, new: Config) -> list[str]:
    """The tables whose changes a reload keeps for the next restart."""
    changed = {"control": new.control != old.control, "store": new.store_path != old.store_path,
               "ids": new.detection.ids != old.detection.ids, "cluster": new.cluster != old.cluster}
    return [name for name, differs in changed.items() if differs]


def _refuse(target: ReloadTarget, e: ConfigError) -> None:
    log.error("reload refused: %s", e)
    target.record(make_event("config_reload", None, ok=False, error=str(e)))


async def _apply(target: ReloadTarget, new: Config, waiting: list[str]) -> None:
    # Rules and models load and compile in a thread (seconds with the ET slice): the
    # relay goes on meanwhile.  A bad one refuses the reload and changes nothing.
    try:
        detectors = await asyncio.to_thread(Detectors.build, new)
    except ConfigError as e:
        _refuse(target, e)
        return
    old = target.config
    # The cluster sync keeps its Redis, name and settings until a restart.
    target.use(dataclasses.replace(new, control=old.control, store_path=old.store_path, cluster=old.cluster,
                                   detection=dataclasses.replace(new.detection, ids=old.detection.ids)),
               detectors)
    errors = await _listeners(target, {s.name: s for s in old.services}, new)
    target.record(make_event("config_reload", None, ok=not errors, error="; ".join(errors) or None,
                             services=[s.name for s in new.services], restart_needed=waiting))
    gc.freeze()  # the new rules and models, as at start (the old ones are freed by refcount)


async def _listeners(target: ReloadTarget, before: dict[str, ServiceConfig], new: Config) -> list[str]:
    """Reopen the listeners whose addresses changed; stop those of removed services."""
    errors = []
    for svc in new.services:
        old = before.pop(svc.name, None)
        if old is not None and old.listen == svc.listen:
            continue
        if not target.binds_listeners:
            errors.append(f"service {svc.name}: listen changes need a restart with [daemon] workers > 1")
            log.error("reload: %s", errors[-1])
            continue
        try:
            await target.relisten(svc)
        except OSError as e:
            errors.append(str(e))
            log.error("reload: %s", e)
    # A worker keeps accepting on a removed service's sockets (its supervisor holds them
    # open), so that new clients are reset (the service is gone) rather than left waiting.
    if target.binds_listeners:
        for name in before:
            target.unlisten(name)
    return errors
