"""Breaking work down: ``planner plan TASK --exec 'COMMAND' [--depth N]``.

For each task to split, the decomposer program (see :mod:`planner.plans.decompose`
for the protocol) gets the task's context and prints subtasks; they are
checked and appended as one :class:`~planner.domain.events.AddTasks` batch, decided
under the log lock like any command (so nothing is written when the output
refers to unknown tasks or closes a cycle, and concurrent planners never
collide). With ``depth`` > 1 the new subtasks are split in turn, breadth
first. The program's time dominates: appending a batch of b subtasks costs
O(b x depth) plus their cycle checks (milliseconds for hundreds).
"""

from __future__ import annotations

from typing import Any

from planner.domain import events as ev
from planner.domain.errors import DomainError
from planner.plans.decompose import run_decomposer


def context_for(planner: Any, task: str) -> dict[str, Any]:
    """What the decomposer is told about ``task`` (the protocol's input)."""
    info = planner.task(task)
    graph = planner.graph
    line = graph.index.line(task)
    parent = info["parent"]
    siblings = graph.index.children[parent] if parent is not None else \
        [t for t, n in graph.tasks.items() if n.parent is None]
    return {
        "task": {k: info[k] for k in ("id", "title", "description", "effort", "priority", "capabilities",
                                      "metadata")},
        "ancestors": [{"id": a, "title": graph.tasks[a].title} for a in reversed(line[1:])],
        "siblings": [{"id": s, "title": graph.tasks[s].title} for s in sorted(siblings) if s != task],
        "project": {"name": graph.name},
        "depth": len(line),
    }


def decompose(planner: Any, task: str, command: str, depth: int = 1, timeout: float = 300.0,
              stderr: Any = None) -> list[str]:
    """Split ``task`` with ``command``, ``depth`` levels deep; return the new task ids.

    A task the program returns ``[]`` for is left as it is. Raises
    :class:`~planner.plans.decompose.DecomposerError` (the program failed or printed
    something invalid) or :class:`~planner.domain.errors.InvalidPlanError` (its
    subtasks do not fit the project); the levels already appended stay.
    """
    if depth < 1:
        raise DomainError(f"--depth must be at least 1, not {depth}")
    planner.task(task)  # UnknownTask before running anything
    added: list[str] = []
    frontier = [task]
    for _ in range(depth):
        next_frontier: list[str] = []
        for current in frontier:
            subtasks = run_decomposer(command, context_for(planner, current), timeout, stderr=stderr)
            if not subtasks:
                continue
            specs = tuple(ev.TaskSpec(**spec, where=f"output for {current}: {spec['id']}") for spec in subtasks)
            events = planner.execute(ev.AddTasks(tasks=specs, source=f"plan {current}"))
            new = [e.id for e in events if e.type == "task.added"]
            added += new
            next_frontier += new
        frontier = next_frontier
    return added
