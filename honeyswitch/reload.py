"""Reloading the config on SIGHUP without dropping live sessions.

New sessions use the new settings; live sessions keep the ones they started with.
Listeners whose addresses changed are reopened; services removed from the file stop
listening.  A bad file changes nothing: the error is logged and recorded.
"""
from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
from typing import TYPE_CHECKING

from .config import Config, ConfigError, load
from .detect.setup import build_detectors
from .events import make_event
from .relay.listener import listen
from .tasks import spawn

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger(__name__)


def reload_config(app: App) -> None:
    try:
        new = load(app.config.source)
    except ConfigError as e:
        _refuse(app, e)
        return
    if new.control != app.config.control or new.store_path != app.config.store_path:
        log.warning("reload: [control] and [store] changes take effect at the next restart")
    spawn(_apply(app, new), name="reload")


def _refuse(app: App, e: ConfigError) -> None:
    log.error("reload refused: %s", e)
    app._record(make_event("config_reload", None, ok=False, error=str(e)))


async def _apply(app: App, new: Config) -> None:
    # Rules and models load and compile in a thread (seconds with the ET slice): the
    # relay goes on meanwhile.  A bad one refuses the reload and changes nothing.
    try:
        detectors = await asyncio.to_thread(build_detectors, new)
    except ConfigError as e:
        _refuse(app, e)
        return
    app.detection.detectors = detectors
    old_services = {s.name: s for s in app.config.services}
    app.config = dataclasses.replace(new, control=app.config.control, store_path=app.config.store_path)
    errors = []
    for svc in new.services:
        before = old_services.pop(svc.name, None)
        if before is not None and before.listen == svc.listen:
            continue
        if app.worker is not None:  # the supervisor bound the sockets, once, for every worker
            errors.append(f"service {svc.name}: listen changes need a restart with [daemon] workers > 1")
            log.error("reload: %s", errors[-1])
            continue
        for server in app.servers.pop(svc.name, []):
            server.close()
        try:
            app.servers[svc.name] = await listen(svc, app.accept, tls_gate=app.tls_gate)
        except OSError as e:
            errors.append(str(e))
            log.error("reload: %s", e)
    for name in old_services:  # removed from the file
        if app.worker is not None:
            # The supervisor holds the sockets open; keep accepting, so that new clients
            # are reset by accept() (the service is gone) rather than left in a backlog.
            continue
        for server in app.servers.pop(name, []):
            server.close()
    if app.blacklist is not None:
        app.blacklist.config = new.blacklist
    app._record(make_event("config_reload", None, ok=not errors, error="; ".join(errors) or None,
                           services=[s.name for s in new.services]))
    gc.freeze()  # the new rules and models, as at start (the old ones are freed by refcount)
