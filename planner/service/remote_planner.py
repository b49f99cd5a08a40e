"""A client of ``planner serve`` with the methods, results and errors of the engine's :class:`Planner`.

``planner.Planner.open(home, project)`` returns one when a server serves the home (see
:mod:`planner.connect`). Its commands are the engine's own methods
(:class:`~planner.engine.commands.PlannerCommands`), whose ``execute`` sends the command
model to the server and parses the events it wrote, so ``claim`` returns the same
``task.assigned`` event, ``add_task`` the same id, a refusal the same DomainError. The
queries are the service's. What only an engine in this process has (``graph``, ``log``)
is not there: open with ``server=False`` for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from planner.engine.commands import PlannerCommands


class RemotePlanner(PlannerCommands):
    """See the module docstring; ``client`` is a :class:`~planner.service.remote.RemoteService`."""

    def __init__(self, client: Any):
        self.client = client
        self.project = client.project
        self.served = True

    def execute(self, command: Any) -> list[Any]:
        from planner.domain.events import parse_event

        if command.command_id is None:  # so that a retry after a lost connection is applied once
            command = command.model_copy(update={"command_id": uuid.uuid4().hex})
        fields = command.model_dump(mode="json", exclude_defaults=True)
        fields["command_id"] = command.command_id
        encoded = self.client._command("execute", (), {"command": type(command).__name__, "fields": fields,
                                                        "command_id": command.command_id})
        return [parse_event(e["type"], e["data"]) for e in encoded]

    def __getattr__(self, name: str) -> Any:
        if name in ("graph", "log"):
            raise AttributeError(f"a planner served by `planner serve` has no {name} in this process: open it "
                                 "with Planner.open(..., server=False) (or PLANNER_NO_SERVER=1)")
        raise AttributeError(name)

    # -- queries: the same results as the engine's --------------------------------------
    def task(self, task: str, refresh: bool = True) -> dict[str, Any]:
        return self.client.show(task)

    def tasks(self) -> list[str]:
        ids: list[str] = []
        stack = list(self.client.tree())
        while stack:
            node = stack.pop()
            ids.append(node["id"])
            stack.extend(node["children"])
        return sorted(ids)

    def ready(self, limit: int | None = None) -> list[str]:
        return [row["id"] for row in self.client.ready(limit=limit)]

    def ready_tasks(self, limit: int | None = None, capabilities: Iterable[str] | None = None) -> list[dict[str, Any]]:
        return self.client.ready(limit=limit, capabilities=None if capabilities is None else list(capabilities))

    def analysis(self, top: int = 10) -> dict[str, Any]:
        return self.client.analyze(top=top)

    def stats(self) -> dict[str, Any]:
        return self.client.status()

    def agents(self, now: float | None = None) -> list[dict[str, Any]]:
        rows = self.client.agents()
        if now is None:  # the engine's shape: no health, no time left
            for row in rows:
                row.pop("health", None)
                for lease in row["leases"]:
                    lease.pop("expires_in", None)
        return rows

    def reap(self, command_id: str | None = None) -> list[Any]:
        from planner.domain.events import LeaseExpired

        return [LeaseExpired(id=x["task"], token=x["token"], agent=x["agent"], reason=x["reason"])
                for x in self.client.reap(command_id=command_id)]

    def snapshot(self) -> int:
        return self.client.local().snapshot()["seq"]

    def close(self, archive: bool = False) -> None:
        self.client.close()

    def __enter__(self) -> RemotePlanner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
