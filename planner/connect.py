"""``planner.Planner``: the engine, or a client of ``planner serve`` when one serves the home.

The package's facade (the top of the stack, so it may reach every layer). With no server,
or with options only an engine in this process takes (``create``, a clock, store options),
or ``server=False`` / ``PLANNER_NO_SERVER=1``, it is the engine itself
(:class:`planner.engine.engine.Planner`); with a server, a
:class:`~planner.service.remote_planner.RemotePlanner`: the same methods, results and errors.
"""

from __future__ import annotations

import os
from typing import Any

from planner.engine.engine import Planner as Engine
from planner.service.opening import open_service


class Planner:
    """See the module docstring: ``Planner.open`` is the one entry."""

    @staticmethod
    def open(home: os.PathLike | str | None, project: str, create: bool = False, server: bool | None = None,
             **options: Any) -> Any:
        """:meth:`planner.engine.engine.Planner.open`, or a client of the home's server."""
        if server is False or create or home is None or not set(options) <= {"journal"}:
            return Engine.open(home, project, create=create, **options)
        service = open_service(home, project, server=server, **options)
        if getattr(service, "served", False):
            from planner.service.remote_planner import RemotePlanner

            return RemotePlanner(service)
        return service.planner  # (open_service found no server and opened the engine)
