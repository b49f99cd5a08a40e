"""Where the dashboard gets a project's service from.

Inside ``planner serve`` the server hands over its hosted services (hot projections, group
commit: :class:`planner.server.server.Server`), through the ``open_project`` callable; on its
own (tests, a script) each project is opened embedded once and kept. Either way a project is
named by the home's file layout: :func:`eventstore.list_projects` of ``<home>/projects``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventstore import check_project_name, list_projects
from planner.engine.engine import home_store


class Services:
    """The projects of one home and their services. Thread-safe.

    ``open_project(name)`` returns the project's :class:`~planner.service.service.Service`
    (or raises :class:`~planner.domain.errors.ProjectNotFound`); it is called on every use,
    so it should be cheap once the project is open (the server's is a dict lookup).
    """

    def __init__(self, home: os.PathLike | str, open_project: Callable[[str], Any] | None = None):
        self.home = Path(home).resolve()
        self._open = open_project or self._embedded
        self._opened: dict[str, Any] = {}
        self._lock = threading.Lock()

    def projects(self) -> list[str]:
        """The home's projects, sorted. O(projects)."""
        return list_projects(home_store(self.home))

    def service(self, project: str) -> Any:
        """The service of ``project``. Raises InvalidArgumentError for a bad name, ProjectNotFound."""
        check_project_name(project)
        return self._open(project)

    def _embedded(self, project: str) -> Any:
        with self._lock:
            found = self._opened.get(project)
            if found is None:
                from planner.service.service import Service

                found = self._opened[project] = Service.open(self.home, project)
            return found

    def close(self) -> None:
        """Close what this object opened itself (never the server's services)."""
        with self._lock:
            opened, self._opened = list(self._opened.values()), {}
        for service in opened:
            service.close()
