"""decide(graph, command) -> events: the planner's rules, pure.

No I/O, no clock, no randomness: the same graph and command always give the
same events, or the same :class:`~planner.domain.errors.DomainError`. Runs under the
log's append lock (inside :meth:`planner.Planner.execute`), so it always
decides on the latest state, and generated ids cannot collide between
processes. Nothing is written when it raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planner.domain import events as ev
from planner.domain import leasing
from planner.domain.batch import decide_add_tasks
from planner.domain.errors import CycleError, DomainError, DuplicateTask
from planner.domain.guards import check_can_contain as _check_can_contain
from planner.domain.guards import depth as _depth
from planner.domain.guards import height as _height
from planner.domain.guards import task_node as _task
from planner.domain.transitions import check_transition
from projections.graph import TaskGraph


def decide(graph: TaskGraph, command: Any) -> list[Any]:
    """The events that carry ``command`` out on ``graph``; [] when it changes nothing."""
    return _DECIDERS[type(command)](graph, command)


def _generated_id(graph: TaskGraph) -> str:
    """``T<n>``, one above the largest n in use (explicit ids such as ``docs`` take no number):
    readable and, decided under the log lock, unique across every process. O(1)."""
    return f"T{graph.highest_number + 1}"


def _add_task(graph: TaskGraph, c: ev.AddTask) -> list[Any]:
    task = c.id or _generated_id(graph)
    if task in graph.tasks:
        raise DuplicateTask(task)
    if c.parent is not None:
        _check_can_contain(graph, c.parent)
    if _depth(graph, c.parent) + 1 > graph.max_depth:
        raise DomainError(f"{task} would be at depth {_depth(graph, c.parent) + 1}, over the project's "
                          f"limit of {graph.max_depth}")
    for dep in c.depends_on:
        _task(graph, dep, "dependency")
        chain = graph.index.cycle_for_new(c.parent, dep)
        if chain is not None:  # dep is a container of the new task, or waits on one
            raise CycleError(task, dep, chain)
    added = ev.TaskAdded(
        id=task, title=c.title, description=c.description, parent=c.parent, priority=c.priority,
        effort=c.effort, capabilities=c.capabilities, metadata=c.metadata, verify_command=c.verify_command,
    )
    return [added, *(ev.DependencyAdded(task=task, depends_on=dep) for dep in dict.fromkeys(c.depends_on))]


def _edit_task(graph: TaskGraph, c: ev.EditTask) -> list[Any]:
    _task(graph, c.id)
    changes = c.model_dump(exclude={"id", "command_id"}, exclude_none=True)
    if not changes:
        return []
    own = sorted({"effort", "capabilities"} & set(changes))
    if own and graph.index.children[c.id]:  # (the rule: see projections.views.task)
        raise DomainError(f"{c.id} is a container: its effort and capabilities are its subtasks' (the sum of "
                          "their efforts, the union of their capabilities); change those instead")
    return [ev.TaskEdited(id=c.id, **changes)]


def _move_task(graph: TaskGraph, c: ev.MoveTask) -> list[Any]:
    node = _task(graph, c.id)
    if c.parent is not None:
        _check_can_contain(graph, c.parent)
    if node.parent == c.parent:
        return []
    chain = graph.index.move_cycle(c.id, c.parent)
    if chain == []:
        raise DomainError(f"{c.id} cannot move under {c.parent}: that is {c.id} itself or inside it")
    if chain is not None:
        cycle = ", ".join(f"{a} -> {b}" for a, b in chain)
        raise DomainError(f"moving {c.id} under {c.parent} would make tasks wait on themselves through "
                          f"{cycle}; remove one of these dependencies first")
    if _depth(graph, c.parent) + _height(graph, c.id) > graph.max_depth:
        raise DomainError(f"moving {c.id} under {c.parent} would make the tree deeper than {graph.max_depth}")
    return [ev.TaskMoved(id=c.id, parent=c.parent)]


def _add_dependency(graph: TaskGraph, c: ev.AddDependency) -> list[Any]:
    _task(graph, c.task)
    _task(graph, c.depends_on, "dependency")
    if c.depends_on in graph.index.depends_on[c.task]:
        return []  # already there: adding it again changes nothing
    chain = graph.index.cycle_for(c.task, c.depends_on)
    if chain is not None:
        raise CycleError(c.task, c.depends_on, chain)
    return [ev.DependencyAdded(task=c.task, depends_on=c.depends_on)]


def _remove_dependency(graph: TaskGraph, c: ev.RemoveDependency) -> list[Any]:
    _task(graph, c.task)
    _task(graph, c.depends_on, "dependency")
    if c.depends_on not in graph.index.depends_on[c.task]:
        raise DomainError(f"{c.task} does not depend on {c.depends_on}")
    return [ev.DependencyRemoved(task=c.task, depends_on=c.depends_on)]


def _transition(graph: TaskGraph, c: ev.Transition) -> list[Any]:
    node = _task(graph, c.id)
    lease = leasing.check_token(graph, c.id, c.token)  # fencing: a leased task needs its token
    if lease is not None:
        ending = leasing.finish(graph, lease, c)
        if ending is not None:
            return ending
    if graph.index.children[c.id]:
        raise DomainError(f"{c.id} has subtasks: its state rolls up from them and cannot be set")
    if node.state == c.to_state:
        return []
    check_transition(c.id, node.state, c.to_state)
    if c.to_state in (ev.TaskState.ASSIGNED, ev.TaskState.IN_PROGRESS) and (node.open_deps or node.held):
        waiting = sorted(d for line in graph.index.line(c.id) for d in graph.index.depends_on[line]
                         if not graph.tasks[d].done)
        raise DomainError(f"{c.id} cannot start: it waits on {', '.join(waiting)}, not done yet")
    return [ev.TaskStateChanged(id=c.id, from_state=node.state, to_state=c.to_state, reason=c.reason, by=c.by)]


def _set_mode(graph: TaskGraph, c: ev.SetMode) -> list[Any]:
    return [] if graph.mode == c.mode else [ev.ModeChanged(mode=c.mode, reason=c.reason)]


def _record_checkpoint(graph: TaskGraph, c: ev.RecordCheckpoint) -> list[Any]:
    _task(graph, c.id)
    leasing.check_token(graph, c.id, c.token)
    if graph.index.children[c.id]:
        raise DomainError(f"{c.id} has subtasks: checkpoint the subtask being worked on")
    return [ev.CheckpointRecorded(id=c.id, notes=c.notes, data=c.data, by=c.by)]


_DECIDERS: dict[type, Callable[[TaskGraph, Any], list[Any]]] = {
    ev.AddTask: _add_task,
    ev.AddTasks: decide_add_tasks,
    ev.EditTask: _edit_task,
    ev.MoveTask: _move_task,
    ev.AddDependency: _add_dependency,
    ev.RemoveDependency: _remove_dependency,
    ev.Transition: _transition,
    ev.SetMode: _set_mode,
    ev.RecordCheckpoint: _record_checkpoint,
    ev.RegisterAgent: leasing.register,
    ev.DeregisterAgent: leasing.deregister,
    ev.Heartbeat: leasing.heartbeat,
    ev.Claim: leasing.claim,
    ev.Renew: leasing.renew,
    ev.Release: leasing.release,
    ev.Assign: leasing.assign,
    ev.Reap: lambda graph, c: [],  # the engine expires what is due before every command
}
