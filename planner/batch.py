"""Deciding a batch of new tasks (:class:`~planner.events.AddTasks`): imports, decompositions.

Pure, like :mod:`planner.decide`, and run under the log lock. Every problem is
found before anything is written, and all of them are reported together, each
with where it came from (a JSON path such as ``tasks[3].dependencies[0]``, or
``plan.md:12``)::

    ids        duplicates (in the batch or the project); missing ones are generated
    parents    unknown, a parent cycle inside the batch, a busy leaf as container, too deep
    edges      unknown task, self / ancestor / descendant, a cycle (with its path)
    states     an imported state that the transition table, or unfinished
               dependencies, do not allow (in_progress before its dependencies are done)

Without ``skip_invalid`` any problem refuses the whole batch
(:class:`~planner.errors.InvalidPlanError`). With it, a task with a problem is
left out (with the tasks under it), an edge with a problem is left out, a state
with a problem becomes ``pending``; each is listed in the batch's
``TasksImported`` event. The result is one batch of events: every ``TaskAdded``
(parents first), then the ``DependencyAdded``, then the state changes (in
dependency order), then ``TasksImported`` when the command names a source.

Costs: O(b x depth) for b new tasks, plus each edge's cycle check (bounded by
the edges it reaches) on a copy-on-access fork of the dependency index, so the
project's size does not enter unless the batch touches it. Imported states
other than ``pending`` replay the batch on a scratch copy of the graph: O(n + e).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from projections.graph import TaskGraph

from . import events as ev
from .errors import DomainError, InvalidPlanError
from .states import TRANSITIONS


def decide_add_tasks(graph: TaskGraph, c: ev.AddTasks) -> list[Any]:
    problems: list[tuple[str, str]] = list(c.problems)
    specs = list(c.tasks)
    where = [s.where or f"tasks[{i}]" for i, s in enumerate(specs)]
    ids = _assign_ids(graph, specs, where, problems)
    accepted = _place(graph, specs, ids, where, problems)  # spec indexes, parents first
    fork = graph.index.fork()
    for i in accepted:
        fork.add_task(ids[i], specs[i].parent)
    edges = _edges(graph, c, specs, ids, accepted, where, fork, problems)
    added = [ev.TaskAdded(id=ids[i], title=specs[i].title, description=specs[i].description,
                          parent=specs[i].parent, priority=specs[i].priority, effort=specs[i].effort,
                          capabilities=specs[i].capabilities, metadata=specs[i].metadata,
                          verify_command=specs[i].verify_command) for i in accepted]
    linked = [ev.DependencyAdded(task=a, depends_on=b) for a, b in edges]
    moved = _states(graph, c, specs, ids, accepted, where, added + linked, problems)
    if problems and not c.skip_invalid:
        raise InvalidPlanError(c.source or "the batch", problems)
    closing = [] if c.source is None else [ev.TasksImported(
        source=c.source, tasks=len(accepted), dropped=tuple({"where": w, "problem": p} for w, p in problems))]
    return [*added, *linked, *moved, *closing]


def _assign_ids(graph: TaskGraph, specs: list[ev.TaskSpec], where: list[str],
                problems: list[tuple[str, str]]) -> list[str | None]:
    """Each spec's id (generated ``T<n>`` when absent), or None for a duplicate."""
    explicit = {s.id for s in specs if s.id is not None}
    ids: list[str | None] = []
    seen: set[str] = set()
    n = len(graph.tasks)
    for i, spec in enumerate(specs):
        task = spec.id
        if task is None:
            n += 1
            while f"T{n}" in graph.tasks or f"T{n}" in explicit:
                n += 1
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
           problems: list[tuple[str, str]]) -> list[int]:
    """The specs that can be placed in the tree, parents first; the others are problems."""
    from .decide import _check_can_contain

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
        elif parent in graph.tasks:
            try:
                _check_can_contain(graph, parent)
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
        for child in children:
            problems.append((where[child] + ".parent", f"its parent {ids[parent]!r} is not imported"
                                                       + (" (a parent cycle)" if parent not in depth else "")))
    return order


def _edges(graph: TaskGraph, c: ev.AddTasks, specs: list[ev.TaskSpec], ids: list[str | None],
           accepted: list[int], where: list[str], fork: Any, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The valid dependency edges, checked one by one against the fork (which gains them)."""
    placed = {ids[i] for i in accepted}
    named = {task for task in ids if task is not None}
    edges = []
    for i in accepted:
        task = ids[i]
        for j, dep in enumerate(specs[i].depends_on):
            at = f"{where[i]}.{c.dependencies_key}[{j}]"
            if dep not in placed and dep not in graph.tasks:
                why = "is not imported (see its own problem)" if dep in named else "is not a known task"
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


def _states(graph: TaskGraph, c: ev.AddTasks, specs: list[ev.TaskSpec], ids: list[str | None],
            accepted: list[int], where: list[str], events: list[Any],
            problems: list[tuple[str, str]]) -> list[Any]:
    """The state changes that bring imported leaves to their stated state, each checked
    against the rules on a scratch graph, dependencies first."""
    wanted = {ids[i]: i for i in accepted if specs[i].state is not ev.TaskState.PENDING}
    if not wanted:
        return []
    from projections.analysis import Structure

    from .decide import decide

    scratch = TaskGraph() if not graph.tasks else TaskGraph.from_snapshot(graph.to_snapshot())
    seq = scratch.seq
    for event in events:
        seq += 1
        scratch.apply(seq, event)
    structure = Structure.of_graph(scratch)
    n = len(structure.ids)
    changes = []
    for v in structure.order or ():
        task = structure.ids[v] if v < n else None
        if task not in wanted:
            continue
        i = wanted[task]
        if scratch.index.children[task]:
            continue  # a container's state rolls up from its children: the stated one is ignored
        try:
            for state in _path(specs[i].state):
                (step,) = decide(scratch, ev.Transition(id=task, to_state=state, reason="imported"))
                seq += 1
                scratch.apply(seq, step)
                changes.append(step)
        except DomainError as exc:  # only a start can fail (its dependencies): nothing was applied for it
            problems.append((f"{where[i]}.{c.state_key}", f"{specs[i].state} is not possible: {exc}"
                             + (f"; imported as {scratch.tasks[task].state}" if c.skip_invalid else "")))
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
