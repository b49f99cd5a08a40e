"""The API the original benchmark spec's snippets use, on top of :class:`planner.Planner`.

::

    planner = SuperPlanner()                 # a fresh home in a temporary directory
    report = await planner.load_project(project)   # a TestProject, fixture dict or file
    planner.planner.ready(20)                # the real Planner underneath

``load_project`` is ``async`` because the spec awaits it; the work itself is
synchronous (a file import is CPU and one fsync'd append, nothing to overlap),
so it runs directly on the event loop's thread. Costs: one batch, see
:mod:`planner.domain.batch`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from planner.engine.engine import Planner
from planner.plans.importing import import_plan, read_fixture, read_plan


class TemporaryHome:
    """A planner home for the spec's facades: a temporary directory, removed on :meth:`close`
    (or when garbage-collected), unless ``home`` is given. A context manager, sync and async.
    Subclasses close what they opened in :meth:`_close_planner`."""

    def __init__(self, home: os.PathLike | str | None, prefix: str):
        self._owned = home is None
        self.home = Path(tempfile.mkdtemp(prefix=prefix)) if home is None else Path(home)

    def _close_planner(self) -> None:
        pass

    def close(self) -> None:
        self._close_planner()
        if self._owned:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # a benchmark that forgets close() must not leave temp dirs behind
        if getattr(self, "_owned", False) and getattr(self, "home", None) is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown: best effort
                pass


class SuperPlanner(TemporaryHome):
    """Loads projects into a planner home (a temporary one, removed on :meth:`close`,
    unless ``home`` is given)."""

    def __init__(self, home: os.PathLike | str | None = None, **open_options: Any):
        super().__init__(home, "superplanner-")
        self.open_options = open_options
        self.planner: Planner | None = None
        self.report: dict[str, Any] | None = None

    async def load_project(self, project: Any, name: str | None = None, skip_invalid: bool = False) -> dict[str, Any]:
        """Import ``project`` (an object with ``to_dict()``, a fixture-format dict, or a
        path) into a new project (named ``name``, else the project's id) and open it.
        Returns the import report (see :func:`planner.plans.importing.import_plan`)."""
        if isinstance(project, str | os.PathLike):
            plan = read_plan(project)
            data: dict[str, Any] = {"project": plan.project}
        else:
            data = project.to_dict() if hasattr(project, "to_dict") else project
            plan = read_fixture(data, str((data.get("project") or {}).get("id", "project")))
        name = name or str((data.get("project") or {}).get("id") or "default")
        if self.planner is not None:
            self.planner.close()
        self.planner = Planner.open(self.home, name, create=True, **self.open_options)
        self.report = import_plan(self.planner, plan, skip_invalid=skip_invalid)
        return self.report

    def _close_planner(self) -> None:
        if self.planner is not None:
            self.planner.close()
            self.planner = None
