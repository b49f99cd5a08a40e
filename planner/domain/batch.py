"""Deciding a batch of new tasks (:class:`~planner.domain.events.AddTasks`): imports, decompositions.

Pure, like :mod:`planner.domain.decide`, and run under the log lock. Every problem is
found before anything is written, and all of them are reported together, each
with where it came from (a JSON path such as ``tasks[3].dependencies[0]``, or
``plan.md:12``)::

    ids        duplicates (in the batch or the project); missing ones are generated
    parents    unknown, a parent cycle inside the batch, a busy leaf as container, too deep
    edges      unknown task, self / ancestor / descendant, a cycle (with its path)

Without ``skip_invalid`` any problem refuses the whole batch
(:class:`~planner.domain.errors.InvalidPlanError`). With it, a task with a problem is
left out (with the tasks under it, and the edges to it: a reference to a task
of the batch that is left out never falls through to a project task with the
same id), an edge with a problem is left out; each is listed in the batch's
``TasksImported`` event. The result is one batch of events: every ``TaskAdded``
(parents first), then the state changes that bring tasks to their stated state
(by the shortest legal path from pending, see :func:`_states`), then the
``DependencyAdded``, then ``TasksImported`` when the command names a source.

Costs: O(b x depth) for b new tasks, plus each edge's cycle check (bounded by
the edges it reaches) on a copy-on-access fork of the dependency index, so the
project's size does not enter unless the batch touches it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from planner.domain import events as ev
from planner.domain.errors import DomainError, InvalidPlanError
from planner.domain.guards import check_can_contain
from projections.graph import TaskGraph
from projections.states import TRANSITIONS


def decide_add_tasks(graph: TaskGraph, c: ev.AddTasks) -> list[Any]:
    problems: list[tuple[str, str]] = list(c.problems)
    specs = list(c.tasks)
    where = [s.where or f"tasks[{i}]" for i, s in enumerate(specs)]
    ids = _assign_ids(graph, specs, where, problems)
    # the batch's own tasks that will not be added: a reference to one of them means that
    # one, never a project task that happens to have the same id
    withheld = set(c.withheld) | {s.id for i, s in enumerate(specs) if s.id is not None and ids[i] is None}
    accepted = _place(graph, specs, ids, where, withheld, problems)  # spec indexes, parents first
    placed = {ids[i] for i in accepted}
    withheld |= {s.id for s in specs if s.id is not None} - placed
    fork = graph.index.fork()
    for i in accepted:
        fork.add_task(ids[i], specs[i].parent)
    edges = _edges(graph, c, specs, ids, accepted, where, fork, placed, withheld, problems)
    if problems and not c.skip_invalid:
        raise InvalidPlanError(c.source or "the batch", problems)
    added = [ev.TaskAdded(id=ids[i], title=specs[i].title, description=specs[i].description,
                          parent=specs[i].parent, priority=specs[i].priority, effort=specs[i].effort,
                          capabilities=specs[i].capabilities, metadata=specs[i].metadata,
                          verify_command=specs[i].verify_command) for i in accepted]
    moved = _states(specs, ids, accepted)
    linked = [ev.DependencyAdded(task=a, depends_on=b) for a, b in edges]
    closing = [] if c.source is None else [ev.TasksImported(
        source=c.source, tasks=len(accepted), dropped=tuple({"where": w, "problem": p} for w, p in problems))]
    return [*added, *moved, *linked, *closing]


def _assign_ids(graph: TaskGraph, specs: list[ev.TaskSpec], where: list[str],
                problems: list[tuple[str, str]]) -> list[str | None]:
    """Each spec's id (generated ``T<n>`` when absent), or None for a duplicate."""
    explicit = {s.id for s in specs if s.id is not None}
    ids: list[str | None] = []
    seen: set[str] = set()
    n = max([graph.highest_number] + [int(t[1:]) for t in explicit if t[:1] == "T" and t[1:].isdigit()])
    for i, spec in enumerate(specs):
        task = spec.id
        if task is None:
            n += 1  # (above every T<n> of the project and of the batch: see decide._generated_id)
            task = f"T{n}"
        if task in graph.tasks:
            problems.append((where[i] + ".id", f"a task with id {task!r} already exists in the project"))
            task = None
        elif task in seen:
            problems.append((where[i] + ".id", f"id {task!r} is used twice in this batch"))
            task = None
        else:
            seen.add(task)
        ids.append(task)
    return ids


def _place(graph: TaskGraph, specs: list[ev.TaskSpec], ids: list[str | None], where: list[str],
           withheld: set[str], problems: list[tuple[str, str]]) -> list[int]:
    """The specs that can be placed in the tree, parents first; the others are problems."""

    position = {task: i for i, task in enumerate(ids) if task is not None}
    waiting: dict[int, list[int]] = {}  # a batch parent -> its batch children
    ready: deque[int] = deque()
    depth: dict[int, int] = {}
    for i, spec in enumerate(specs):
        if ids[i] is None:
            continue
        parent = spec.parent
        if parent is None:
            depth[i] = 1
            ready.append(i)
        elif parent in position:
            waiting.setdefault(position[parent], []).append(i)
        elif parent in withheld:
            problems.append((where[i] + ".parent", f"its parent {parent!r} is not imported (see its own problem)"))
        elif parent in graph.tasks:
            try:
                check_can_contain(graph, parent)
            except DomainError as exc:
                problems.append((where[i] + ".parent", str(exc)))
                continue
            depth[i] = len(graph.index.line(parent)) + 1
            ready.append(i)
        else:
            problems.append((where[i] + ".parent", f"unknown task {parent!r}"))
    order: list[int] = []
    while ready:
        i = ready.popleft()
        if depth[i] > graph.max_depth:
            problems.append((where[i] + ".parent", f"{ids[i]} would be at depth {depth[i]}, over the "
                                                   f"project's limit of {graph.max_depth}"))
            continue  # its children stay in `waiting`: reported below
        order.append(i)
        for child in waiting.pop(i, ()):
            depth[child] = depth[i] + 1
            ready.append(child)
    for parent, children in sorted(waiting.items()):  # under a task that was not placed
        why = " (a parent cycle)" if _in_parent_cycle(specs, position, parent) else ""
        for child in children:
            problems.append((where[child] + ".parent", f"its parent {ids[parent]!r} is not imported{why}"))
    return order


def _in_parent_cycle(specs: list[ev.TaskSpec], position: dict[str, int], start: int) -> bool:
    """Whether following parents inside the batch from spec ``start`` comes back to it."""
    i: int | None = start
    for _ in range(len(specs)):
        parent = specs[i].parent
        i = position.get(parent) if parent is not None else None
        if i is None:
            return False
        if i == start:
            return True
    return False


def _edges(graph: TaskGraph, c: ev.AddTasks, specs: list[ev.TaskSpec], ids: list[str | None],
           accepted: list[int], where: list[str], fork: Any, placed: set[str], withheld: set[str],
           problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The valid dependency edges, checked one by one against the fork (which gains them)."""
    edges = []
    for i in accepted:
        task = ids[i]
        for j, dep in enumerate(specs[i].depends_on):
            at = f"{where[i]}.{c.dependencies_key}[{j}]"
            if dep not in placed and (dep in withheld or dep not in graph.tasks):
                why = "is not imported (see its own problem)" if dep in withheld else "is not a known task"
                problems.append((at, f"{dep!r} {why}"))
                continue
            if dep in fork.depends_on[task]:
                continue  # listed twice: once is enough
            chain = fork.cycle_for(task, dep)
            if chain == []:
                problems.append((at, f"{task} cannot depend on {dep}: the same task, or one contains the other"))
                continue
            if chain is not None:
                cycle = " -> ".join([task, dep, *(b for _, b in chain)])
                problems.append((at, f"{task} -> {dep} closes the cycle {cycle} (through the tasks' containers)"))
                continue
            fork.add_edge(task, dep)
            edges.append((task, dep))
    return edges


def _states(specs: list[ev.TaskSpec], ids: list[str | None], accepted: list[int]) -> list[Any]:
    """The state changes that bring new leaves to their stated state, by the shortest legal
    path from pending. They come before the batch's dependencies, as they would in a
    project where a dependency was added to a task already under way: each step is
    legal when it is taken (no task starts while waiting), and any stated state can be
    imported. A container's stated state is ignored: it rolls up from its children."""
    containers = {specs[i].parent for i in accepted}
    changes: list[Any] = []
    for i in accepted:
        if specs[i].state is ev.TaskState.PENDING or ids[i] in containers:
            continue
        before = ev.TaskState.PENDING
        for state in _path(specs[i].state):
            changes.append(ev.TaskStateChanged(id=ids[i], from_state=before, to_state=state, reason="imported"))
            before = state
    return changes


def _path(target: ev.TaskState) -> list[ev.TaskState]:
    """The shortest legal way from pending to ``target`` (sorted, so always the same one)."""
    start = ev.TaskState.PENDING
    came: dict[ev.TaskState, ev.TaskState | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for nxt in sorted(TRANSITIONS[state]):
            if nxt not in came:
                came[nxt] = state
                queue.append(nxt)
    path = []
    while target != start:
        path.append(target)
        target = came[target]
    return path[::-1]
