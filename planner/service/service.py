"""The service: every command and query of a project as plain, JSON-ready data.

The one API that every adapter calls (the CLI, ``watch``, the agents' supervisor and
worker; the server, MCP and the dashboard next), and that a server client mirrors
method for method. Results have the shapes of :mod:`planner.service.schema`; errors
are the engine's: a :class:`~planner.domain.errors.DomainError` subclass with a message
that says what, where and what to do, or an :class:`~eventstore.EventStoreError`.

::

    with Service.open(home, project) as s:
        s.add_task("Design the schema", priority="high")     # {"id": "T1"}
        lease = s.claim("agent-1")                          # a Lease, or None
        s.set_state(lease["task"], "in_progress", token=lease["token"])
        s.ready(limit=5)                                    # [ReadyTask, ...]
        s.at("120").status()                                # the project as it was at seq 120

Costs: a query folds what other processes appended since the last call (O(new
events)) and then reads one view (see :mod:`projections.views` for each one's cost);
a command is one engine step (:meth:`planner.engine.engine.Planner.execute`).
Thread-safe: the engine's lock covers every fold, decide and read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from planner.domain.errors import DomainError, UnknownTask
from planner.engine.engine import Planner
from projections import views
from projections.graph import TaskGraph

_EDITABLE = ("title", "description", "priority", "effort", "capabilities", "metadata", "verify_command")


def describe(record: Any) -> str:
    """One event, in a few words."""
    import json

    d = record.data
    kind = record.type
    if kind == "task.state_changed":
        return f"{d['id']}: {d['from_state']} -> {d['to_state']}" + (f" ({d['reason']})" if d.get("reason") else "")
    if kind == "task.assigned":
        return f"{d['id']} -> {d['agent']} (token {d['token']}, attempt {d['attempt']})"
    if kind in ("lease.renewed", "lease.released", "lease.expired"):
        return f"{d['id']} token {d['token']}" + (f": {d['reason']}" if d.get("reason") else "")
    if kind == "task.checkpointed":
        return f"{d['id']}" + (f" by {d['by']}" if d.get("by") else "") + f": {d.get('notes', '')}"
    if kind.startswith("agent."):
        return d["agent"] + (f" ({d['reason']})" if d.get("reason") else "")
    text = json.dumps(d, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


def event_view(record: Any) -> dict[str, Any]:
    return {"seq": record.seq, "ts": record.ts, "type": record.type, "cmd": record.cmd, "data": record.data,
            "text": describe(record)}


def mentions(data: dict[str, Any], task: str) -> bool:
    """Whether an event's data is about ``task``."""
    return task in (data.get("id"), data.get("task"), data.get("depends_on"))


def _lease(event: Any) -> dict[str, Any]:
    return {"task": event.id, "agent": event.agent, "token": event.token, "expires_at": event.expires_at,
            "expires": views.iso(event.expires_at), "attempt": event.attempt, "renewed_at": event.at}


class ProjectView:
    """The read-only queries, on one graph: the live project's (through :class:`Service`) or the
    project as it was at a point of its history (:meth:`Service.at`)."""

    def __init__(self, graph: TaskGraph, clock: Callable[[], float] = time.time):
        self._graph = graph
        self._clock = clock

    def _fresh(self) -> TaskGraph:  # the live service folds first; a past view is fixed
        return self._graph

    def status(self) -> dict[str, Any]:
        """The project in numbers: :class:`~planner.service.schema.Status`. O(states)."""
        return views.status(self._fresh())

    def ready(self, limit: int | None = None, capabilities: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Ready tasks, best first (priority, critical-path weight, age), only those that
        ``capabilities`` cover when given: [:class:`~planner.service.schema.ReadyTask`]. O(limit + log n)."""
        return views.ready(self._fresh(), limit, None if capabilities is None else tuple(capabilities))

    def show(self, task: str) -> dict[str, Any]:
        """One task: :class:`~planner.service.schema.TaskView`. Raises UnknownTask."""
        found = views.task(self._fresh(), task)
        if found is None:
            raise UnknownTask(task)
        return found

    def tree(self, root: str | None = None, depth: int | None = None) -> list[dict[str, Any]]:
        """The task tree from the top or from ``root``, ``depth`` levels deep: [TreeNode]."""
        graph = self._fresh()
        if root is not None and root not in graph.tasks:
            raise UnknownTask(root)
        if depth is not None and depth < 1:
            raise DomainError(f"depth must be at least 1, not {depth}")
        return views.tree(graph, root, depth)

    def agents(self) -> list[dict[str, Any]]:
        """Every agent with its health and leases (time left): [AgentView]. O(agents + leases)."""
        return views.agents(self._fresh(), self._clock())

    def agent(self, name: str) -> dict[str, Any] | None:
        """One agent (:class:`~planner.service.schema.AgentView`), or None when unknown."""
        rows = views.agents(self._fresh(), self._clock(), only=name)
        return rows[0] if rows else None

    def analyze(self, top: int = 10) -> dict[str, Any]:
        """Levels, the critical path, bottlenecks, capabilities, progress: Analysis. O(n + e)."""
        from projections.analysis import analyze

        return analyze(self._fresh(), top=top).to_dict()

    def capabilities(self) -> list[str]:
        """Every capability that some task needs, sorted. O(tasks)."""
        return sorted({c for n in self._fresh().tasks.values() for c in n.capabilities})

    def next_expiry(self) -> float | None:
        """When the first lease runs out (seconds since the epoch), or None when none is held."""
        graph = self._fresh()
        due = graph.agents.next_due(graph.lease_ttl)
        return None if due == float("inf") else due

    def outlook(self, capabilities: Iterable[str]) -> dict[str, Any]:
        """What an idle agent (or a supervisor deciding whether work is left) with ``capabilities``
        needs to know, from one consistent state: the project's ``mode``, ``next_expiry`` (or
        None), whether a ready task ``fits`` it, and how many tasks are ``held``. O(ready) at worst."""
        graph = self._fresh()
        due = graph.agents.next_due(graph.lease_ttl)
        return {"mode": graph.mode, "next_expiry": None if due == float("inf") else due,
                "fits": bool(views.ready(graph, 1, tuple(capabilities))), "held": len(graph.agents.leases)}

    def export(self, format: str = "json") -> str:  # noqa: A002 - the CLI's name
        """The project as text: ``json`` (the fixture format, re-importable), ``dot`` or ``mermaid``."""
        from planner.plans.exporting import FORMATS

        if format not in FORMATS:
            raise DomainError(f"unknown export format {format!r}: use one of {', '.join(FORMATS)}")
        return FORMATS[format](self._fresh())


class Service(ProjectView):
    """One project's commands and queries; see the module docstring."""

    def __init__(self, planner: Planner):
        super().__init__(planner.graph, planner.clock)
        self.planner = planner
        self.project = planner.project

    @classmethod
    def open(cls, home: os.PathLike | str | None, project: str, create: bool = False, **options: Any) -> Service:
        """Open ``project`` embedded (see :meth:`planner.engine.engine.Planner.open` for the options);
        :func:`planner.service.opening.open_service` uses a server when one runs."""
        return cls(Planner.open(home, project, create=create, **options))

    def close(self, archive: bool = False) -> None:
        self.planner.close(archive=archive)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _fresh(self) -> TaskGraph:
        self.planner.refresh()
        return self.planner.graph

    # the queries of ProjectView, each under the engine's lock (threads)
    def status(self) -> dict[str, Any]:
        with self.planner.locked():
            return super().status()

    def ready(self, limit: int | None = None, capabilities: Iterable[str] | None = None) -> list[dict[str, Any]]:
        with self.planner.locked():
            return super().ready(limit, capabilities)

    def show(self, task: str) -> dict[str, Any]:
        with self.planner.locked():
            return super().show(task)

    def tree(self, root: str | None = None, depth: int | None = None) -> list[dict[str, Any]]:
        with self.planner.locked():
            return super().tree(root, depth)

    def agents(self) -> list[dict[str, Any]]:
        with self.planner.locked():
            return super().agents()

    def agent(self, name: str) -> dict[str, Any] | None:
        with self.planner.locked():
            return super().agent(name)

    def analyze(self, top: int = 10) -> dict[str, Any]:
        with self.planner.locked():
            return super().analyze(top)

    def capabilities(self) -> list[str]:
        with self.planner.locked():
            return super().capabilities()

    def next_expiry(self) -> float | None:
        with self.planner.locked():
            return super().next_expiry()

    def export(self, format: str = "json") -> str:  # noqa: A002
        with self.planner.locked():
            return super().export(format)

    def outlook(self, capabilities: Iterable[str]) -> dict[str, Any]:
        with self.planner.locked():
            return super().outlook(capabilities)

    # -- the log ------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """The last seq this handle has folded."""
        return self.planner.graph.seq

    def last_seq(self) -> int:
        """The log's last seq (lock-free)."""
        return self.planner.log.last_seq

    def events(self, from_seq: int = 1, to_seq: int | None = None, last: int | None = None) -> list[dict[str, Any]]:
        """Records ``from_seq..to_seq``, or the ``last`` n: [EventView]. O(records read)."""
        if last is not None:
            end = self.planner.log.last_seq
            from_seq = max(1, end - last + 1)
            to_seq = end
            if end == 0:
                return []
        return [event_view(r) for r in self.planner.log.read(from_seq, to_seq)]

    def follow(self, from_seq: int, timeout: float | None = None, stop_event: Any = None) -> Iterator[dict[str, Any]]:
        """Events from ``from_seq`` on, as they are appended by anyone (no polling): EventView."""
        for record in self.planner.log.follow(from_seq, timeout=timeout, stop_event=stop_event):
            yield event_view(record)

    def follow_seqs(self, from_seq: int, timeout: float | None = None, stop_event: Any = None) -> Iterator[int]:
        """:meth:`follow`, only the seqs: for a watcher that needs to know that something was
        appended, not what (no event view is built). O(1) per record."""
        for record in self.planner.log.follow(from_seq, timeout=timeout, stop_event=stop_event):
            yield record.seq

    def history(self, task: str) -> list[dict[str, Any]]:
        """Every event about ``task``, oldest first: [EventView]. Raises UnknownTask. O(log)."""
        self.show(task)
        return [event_view(r) for r in self.planner.log.read() if mentions(r.data, task)]

    def at(self, point: str | int) -> ProjectView:
        """The project as it was at a seq (an int, or digits) or an ISO 8601 time: the queries of
        a live service, read-only. Starts from the newest snapshot at or before the seq, then
        replays up to it. Raises DomainError for a point beyond the log's end."""
        from planner.engine.timetravel import state_at, time_at

        graph = state_at(self.planner.log, point)
        when = time_at(self.planner.log, point, graph.seq)
        return ProjectView(graph, lambda: when)  # (a lease's time left: as it was then)

    def replay(self, at: str | int | None = None, verify: bool = False,
               progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Rebuild the projections from the log (up to ``at``); with ``verify``, every event is
        validated again and the result compared with a recomputation (and with the live state
        when replaying all of it): :class:`~planner.service.schema.Replay`."""
        from planner.engine.timetravel import replay

        return replay(self.planner, at, verify, progress)

    # -- commands -----------------------------------------------------------------
    def add_task(self, title: str, id: str | None = None, parent: str | None = None,  # noqa: A002
                 depends_on: Iterable[str] = (), priority: str = "medium", effort: float = 1.0,
                 capabilities: Iterable[str] = (), description: str = "", metadata: dict | None = None,
                 verify_command: str | None = None, command_id: str | None = None) -> dict[str, Any]:
        """Add a task: ``{"id": ...}`` (generated as ``T<n>`` when not given)."""
        task = self.planner.add_task(title, id=id, parent=parent, depends_on=depends_on, priority=priority,
                                     effort=effort, capabilities=capabilities, description=description,
                                     metadata=metadata, verify_command=verify_command, command_id=command_id)
        return {"id": task}

    def edit_task(self, task: str, command_id: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change some of a task's fields (title, description, priority, effort, capabilities,
        metadata, verify_command): the task after it."""
        unknown = sorted(set(changes) - set(_EDITABLE))
        if unknown:
            raise DomainError(f"cannot edit {', '.join(unknown)}: editable fields are {', '.join(_EDITABLE)}")
        self.planner.edit_task(task, command_id=command_id,
                               **{k: v for k, v in changes.items() if v is not None})
        return self.show(task)

    def add_dependency(self, task: str, depends_on: str, command_id: str | None = None) -> dict[str, Any]:
        self.planner.add_dependency(task, depends_on, command_id=command_id)
        return self.show(task)

    def remove_dependency(self, task: str, depends_on: str, command_id: str | None = None) -> dict[str, Any]:
        self.planner.remove_dependency(task, depends_on, command_id=command_id)
        return self.show(task)

    def move_task(self, task: str, parent: str | None, command_id: str | None = None) -> dict[str, Any]:
        self.planner.move_task(task, parent, command_id=command_id)
        return self.show(task)

    def set_state(self, task: str, state: str, reason: str | None = None, by: str | None = None,
                  token: int | None = None, command_id: str | None = None) -> dict[str, Any]:
        """Move a task to ``state`` (a leased task needs its lease's token): the task after it."""
        self.planner.transition(task, state, reason=reason, by=by, token=token, command_id=command_id)
        return self.show(task)

    def set_mode(self, mode: str, reason: str | None = None, command_id: str | None = None) -> dict[str, Any]:
        """``planning`` (claims paused) or ``working``: the status after it."""
        self.planner.set_mode(mode, reason=reason, command_id=command_id)
        return self.status()

    def checkpoint(self, task: str, notes: str = "", data: dict | None = None, by: str | None = None,
                   token: int | None = None, command_id: str | None = None) -> dict[str, Any]:
        """Save notes or data mid-task (kept for whoever holds the task next): the Checkpoint."""
        self.planner.checkpoint(task, notes=notes, data=data, by=by, token=token, command_id=command_id)
        return self.show(task)["checkpoint"]

    def register_agent(self, agent: str, capabilities: Iterable[str] = (), capacity: int = 1, kind: str = "ai",
                       command_id: str | None = None) -> dict[str, Any]:
        self.planner.register_agent(agent, capabilities=capabilities, capacity=capacity, kind=kind,
                                    command_id=command_id)
        return self._agent_row(agent)

    def deregister_agent(self, agent: str, reason: str | None = None, command_id: str | None = None) -> dict[str, Any]:
        """Remove an agent; the tasks it holds go back to pending (no attempt used up)."""
        self.planner.deregister_agent(agent, reason=reason, command_id=command_id)
        return self._agent_row(agent)

    def heartbeat(self, agent: str, command_id: str | None = None) -> dict[str, Any]:
        self.planner.heartbeat(agent, command_id=command_id)
        return self._agent_row(agent)

    def _agent_row(self, agent: str) -> dict[str, Any]:
        row = self.agent(agent)
        assert row is not None, agent  # the command just named it, or was refused
        return row

    def claim(self, agent: str, task: str | None = None, ttl: float | None = None,
              command_id: str | None = None) -> dict[str, Any] | None:
        """Lease the best ready task ``agent`` can do (or ``task``): the Lease, or None when nothing fits."""
        event = self.planner.claim(agent, task=task, ttl=ttl, command_id=command_id)
        return None if event is None else _lease(event)

    def renew(self, task: str, token: int, ttl: float | None = None, command_id: str | None = None) -> dict[str, Any]:
        """Extend a lease: the Lease after it."""
        self.planner.renew(task, token, ttl=ttl, command_id=command_id)
        return self.show(task)["lease"]

    def release(self, task: str, token: int, reason: str | None = None,
                command_id: str | None = None) -> dict[str, Any]:
        """Give a leased task back to pending (its checkpoint stays): the task after it."""
        self.planner.release(task, token, reason=reason, command_id=command_id)
        return self.show(task)

    def assign(self, agents: Iterable[str] | None = None, ttl: float | None = None,
               command_id: str | None = None) -> list[dict[str, Any]]:
        """Hand ready tasks to the available agents in one batch: the Leases granted."""
        return [_lease(e) for e in self.planner.assign(agents, ttl=ttl, command_id=command_id)]

    def reap(self, command_id: str | None = None) -> list[dict[str, Any]]:
        """Expire every lease that has run out: [Expiry]."""
        return [{"task": e.id, "token": e.token, "agent": e.agent, "reason": e.reason}
                for e in self.planner.reap(command_id=command_id)]

    # -- plans in and out ------------------------------------------------------------
    def import_plan(self, plan: Any, skip_invalid: bool = False) -> dict[str, Any]:
        """Import a parsed plan (:func:`planner.plans.importing.read_plan`): the import report."""
        from planner.plans.importing import import_plan

        return import_plan(self.planner, plan, skip_invalid=skip_invalid)

    def check_plan(self, plan: Any) -> dict[str, Any]:
        """What importing ``plan`` here would do, writing nothing: the check report."""
        from planner.plans.importing import check_plan

        return check_plan(self.planner, plan)

    def decompose(self, task: str, command: str, depth: int = 1, timeout: float = 300.0) -> list[str]:
        """Break ``task`` down with an external decomposer program: the ids added."""
        from planner.plans.planning import decompose

        return decompose(self.planner, task, command, depth=depth, timeout=timeout)

    # -- maintenance ------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Save the projections now: ``{"seq": ...}``."""
        return {"seq": self.planner.snapshot()}

    def archive(self) -> dict[str, Any] | None:
        """Commit what is not archived yet to the git archive (file store): the commit, or None."""
        info = self.planner.archive(force=True)
        return info._asdict() if info is not None else None
