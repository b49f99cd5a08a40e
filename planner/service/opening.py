"""Opening a project's service: a client of ``planner serve`` when one serves the home, else embedded.

The one entry point the adapters use (the CLI, ``planner work``'s supervisor and
workers). Looking for a server costs one small file read (``<home>/server.json``) and
a connect; a served command then never imports the engine (a CLI query through a
server skips ~45 ms of imports and the snapshot load).
"""

from __future__ import annotations

import os
from typing import Any

from planner.domain.errors import DomainError
from planner.service import wire


def service_class() -> type:
    """:class:`planner.service.service.Service` (imported when first needed)."""
    from planner.service.service import Service

    return Service


def open_service(home: os.PathLike | str | None, project: str, create: bool = False, server: bool | None = None,
                 **options: Any) -> Any:
    """The service of ``project``: a :class:`~planner.service.remote.RemoteService` (the same
    methods, results and errors) when ``planner serve`` serves ``home``, unless ``server=False``,
    ``PLANNER_NO_SERVER=1`` (the CLI's ``--no-server``), or options only an embedded engine takes
    (``create``, a clock, durability and other store options); else the embedded
    :class:`~planner.service.service.Service`. ``store``: served only by a server of ``home``
    that serves that same store (``planner --store URL serve``; :func:`wire.store_key`),
    embedded otherwise, as without a store a server of the home's own files serves.
    ``server=True``: a server must serve the home (DomainError otherwise)."""
    if server is not False and home is not None and not create and set(options) <= {"journal", "store"} \
            and (server or not wire.server_disabled()):
        from planner.service.remote import RemoteService

        client = RemoteService.connect(home, project, service_class, **options)
        if client is not None:
            return client
        if server:
            key = wire.store_key(options.get("store"))
            store = f" --store {key}" if key else ""
            raise DomainError(f"no planner server serves {home}{' on ' + key if key else ''}: start one with "
                              f"`planner --home {home}{store} serve`")
    return service_class().open(home, project, create=create, **options)
