"""The planner's commands as methods: each builds one command and hands it to ``execute``.

Shared by the engine (:class:`planner.engine.engine.Planner`, which decides and appends)
and by a client of ``planner serve`` (:class:`planner.service.remote_planner.RemotePlanner`,
whose ``execute`` sends the command to the server): both give the same results, because
they are these same methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class OnFirstUse:
    """A module imported when first used: the events and rules bring in pydantic (~70 ms),
    which a query answered from a snapshot never needs."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)  # found in the instance from now on: __getattr__ runs once per name
        return value


ev: Any = OnFirstUse("planner.domain.events")


class PlannerCommands:
    """Every command of a project as a method; subclasses provide ``execute(command) -> events``."""

    def execute(self, command: Any) -> list[Any]:
        raise NotImplementedError

    def add_task(self, title: str, id: str | None = None, parent: str | None = None,  # noqa: A002 - the spec's name
                 depends_on: Iterable[str] = (), priority: str = "medium", effort: float = 1.0,
                 capabilities: Iterable[str] = (), description: str = "", metadata: dict | None = None,
                 verify_command: str | None = None, command_id: str | None = None) -> str:
        """Add a task; return its id (generated as ``T<n>`` when not given)."""
        events = self.execute(ev.AddTask(
            id=id, title=title, parent=parent, depends_on=tuple(depends_on), priority=priority, effort=effort,
            capabilities=tuple(capabilities), description=description, metadata=metadata or {},
            verify_command=verify_command, command_id=command_id,
        ))
        return events[0].id

    def add_dependency(self, task: str, depends_on: str, command_id: str | None = None) -> None:
        self.execute(ev.AddDependency(task=task, depends_on=depends_on, command_id=command_id))

    def remove_dependency(self, task: str, depends_on: str, command_id: str | None = None) -> None:
        self.execute(ev.RemoveDependency(task=task, depends_on=depends_on, command_id=command_id))

    def transition(self, task: str, state: str, reason: str | None = None, by: str | None = None,
                   token: int | None = None, command_id: str | None = None) -> None:
        """Change a task's state; a leased task needs its lease's ``token`` (else
        :class:`~planner.domain.errors.StaleLease`). On a leased task, completed and cancelled
        release the lease; failed (and pending) release it too and send the task back to
        pending while it has attempts left."""
        self.execute(ev.Transition(id=task, to_state=state, reason=reason, by=by, token=token,
                                   command_id=command_id))

    def edit_task(self, task: str, command_id: str | None = None, **changes: Any) -> None:
        self.execute(ev.EditTask(id=task, command_id=command_id, **changes))

    def move_task(self, task: str, parent: str | None, command_id: str | None = None) -> None:
        self.execute(ev.MoveTask(id=task, parent=parent, command_id=command_id))

    def set_mode(self, mode: str, reason: str | None = None, command_id: str | None = None) -> None:
        self.execute(ev.SetMode(mode=mode, reason=reason, command_id=command_id))

    def checkpoint(self, task: str, notes: str = "", data: dict | None = None, by: str | None = None,
                   token: int | None = None, command_id: str | None = None) -> None:
        """Save notes or data mid-task (kept when the task changes hands), with the lease's token."""
        self.execute(ev.RecordCheckpoint(id=task, notes=notes, data=data or {}, by=by, token=token,
                                         command_id=command_id))

    # -- agents and leases (rules: planner.domain.leasing) -------------------------------
    def register_agent(self, agent_id: str, capabilities: Iterable[str] = (), capacity: int = 1,
                       kind: str = "ai", command_id: str | None = None) -> None:
        self.execute(ev.RegisterAgent(agent=agent_id, capabilities=tuple(capabilities), capacity=capacity,
                                      kind=kind, command_id=command_id))

    def deregister_agent(self, agent_id: str, reason: str | None = None, command_id: str | None = None) -> None:
        """Remove an agent; the tasks it holds go back to pending (no attempt used up)."""
        self.execute(ev.DeregisterAgent(agent=agent_id, reason=reason, command_id=command_id))

    def heartbeat(self, agent_id: str, command_id: str | None = None) -> None:
        """Say the agent is alive (written at most once per half lease TTL)."""
        self.execute(ev.Heartbeat(agent=agent_id, command_id=command_id))

    def claim(self, agent_id: str, task: str | None = None, ttl: float | None = None,
              command_id: str | None = None) -> Any:
        """Lease the best ready task ``agent_id`` can do (or ``task``): the ``task.assigned``
        event (``id``, ``token``, ``expires_at``, ``attempt``), or None when nothing fits."""
        events = self.execute(ev.Claim(agent=agent_id, task=task, ttl=ttl, command_id=command_id))
        return next((e for e in events if e.type == "task.assigned" and e.agent == agent_id), None)

    def renew(self, task: str, token: int, ttl: float | None = None, command_id: str | None = None) -> None:
        self.execute(ev.Renew(id=task, token=token, ttl=ttl, command_id=command_id))

    def release(self, task: str, token: int, reason: str | None = None, command_id: str | None = None) -> None:
        """Give a leased task back to pending (its checkpoint stays for the next agent)."""
        self.execute(ev.Release(id=task, token=token, reason=reason, command_id=command_id))

    def assign(self, agents: Iterable[str] | None = None, ttl: float | None = None,
               command_id: str | None = None) -> list[Any]:
        """Hand ready tasks to the available agents in one batch (see :func:`planner.domain.leasing.assign`);
        return the ``task.assigned`` events."""
        events = self.execute(ev.Assign(agents=tuple(agents) if agents is not None else None, ttl=ttl,
                                        command_id=command_id))
        return [e for e in events if e.type == "task.assigned"]

