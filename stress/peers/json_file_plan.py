"""The whole-file JSON peer of a loaded plan, for ``python -m stress.bench load``.

How the original super-planner stored a project: one JSON file in the
fixture format (``{"project": {...}, "tasks": [...]}``), read whole and
written whole. Nothing is indexed on disk, so every reader parses the entire
file and every query scans the tasks in memory. What the benchmark measures:

* :func:`save` ("import"): ``json.dump`` of the whole project to a temporary
  file, ``fsync``, rename over the target (the whole file per save).
* :func:`load` ("cold load"): ``json.load`` of the whole file (stdlib
  ``json``), then the dicts a user needs: tasks by id, children and
  dependency lists per task. O(file size).
* :func:`ready` ("ready top-20"): a scan of every task for the pending leaves
  whose dependencies are all ``completed``, then the best ``limit`` by
  priority and file order (``heapq.nsmallest``). O(n + e). **Simplified
  semantics**, the same as :mod:`stress.peers.sqlite_plan`: a container's
  dependencies do not hold back its subtree, a dependency on a container
  reads the container's own ``status``, no critical-path tie-break; so its
  answer must equal the SQLite peer's, id for id.
* :func:`closes_cycle` ("cycle check of one new edge"): breadth-first search
  along ``dependencies`` from ``depends_on``, looking for ``task``
  (task-to-task edges only).
* :func:`analyze` ("full analysis"): Kahn's topological order over the
  task-to-task edges, parallel levels and the longest path by effort. Again
  simplified: containers are ordinary nodes, no bottlenecks.

Also a command line, timed as a whole process next to ``planner ready --json``::

    python -m stress.peers.json_file_plan FILE ready [--limit K]   # the top-K (default: all) as JSON
"""

from __future__ import annotations

import heapq
import json
import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def save(path: str | Path, fixture: dict[str, Any]) -> int:
    """Write the whole project atomically (temp file, fsync, rename); return the task count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(fixture["tasks"])


class PlanView:
    """What :func:`load` builds: the file's data, tasks by id, children and dependencies per task."""

    __slots__ = ("data", "tasks", "order", "children", "depends_on")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.tasks: dict[str, dict[str, Any]] = {}
        self.order: dict[str, int] = {}  # position in the file: the "age" tie-break
        self.children: dict[str, list[str]] = {}
        self.depends_on: dict[str, list[str]] = {}


def load(path: str | Path) -> PlanView:
    """Parse the whole file and index it. O(file size)."""
    with open(path, encoding="utf-8") as f:
        view = PlanView(json.load(f))
    tasks, order, children, depends_on = view.tasks, view.order, view.children, view.depends_on
    for i, task in enumerate(view.data["tasks"]):
        tid = task["id"]
        tasks[tid] = task
        order[tid] = i
        children[tid] = []
        depends_on[tid] = list(task.get("dependencies", ()))
    for tid, task in tasks.items():
        parent = task.get("parent_id")
        if parent is not None:
            children[parent].append(tid)
    return view


def ready(view: PlanView, limit: int | None = 20) -> list[str]:
    """The best ``limit`` (None: all) ready task ids by a full scan (simplified semantics: see the module
    docstring). O(n + e), plus O(r log limit) to pick them among r candidates."""
    tasks, children, order = view.tasks, view.children, view.order
    candidates = (
        (-PRIORITY_RANK[t.get("priority", "medium")], order[tid], tid)
        for tid, t in tasks.items()
        if t.get("status", "pending") == "pending" and not children[tid]
        and all(tasks[d].get("status") == "completed" for d in view.depends_on[tid])
    )
    best = sorted(candidates) if limit is None else heapq.nsmallest(limit, candidates)
    return [tid for _, _, tid in best]


def closes_cycle(view: PlanView, task: str, depends_on: str) -> bool:
    """Would ``task -> depends_on`` close a cycle of task-to-task edges? BFS, O(edges reached)."""
    seen = {depends_on}
    queue = deque([depends_on])
    while queue:
        node = queue.popleft()
        if node == task:
            return True
        for nxt in view.depends_on[node]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return False


def analyze(view: PlanView) -> dict[str, Any]:
    """Levels and the critical path by effort over task-to-task edges (Kahn). O(n + e)."""
    tasks, depends_on = view.tasks, view.depends_on
    dependents: dict[str, list[str]] = {tid: [] for tid in tasks}
    indegree = {tid: len(deps) for tid, deps in depends_on.items()}
    for tid, deps in depends_on.items():
        for d in deps:
            dependents[d].append(tid)
    level: dict[str, int] = {}
    finish: dict[str, float] = {}  # effort of the heaviest chain ending with the task
    before: dict[str, str | None] = {}  # the dependency on that chain
    queue = deque(tid for tid, k in indegree.items() if k == 0)
    while queue:
        node = queue.popleft()
        deps = depends_on[node]
        heaviest = max(deps, key=finish.__getitem__) if deps else None
        level[node] = 1 + max((level[d] for d in deps), default=-1)
        finish[node] = float(tasks[node].get("estimated_effort", 0.0)) + (finish[heaviest] if heaviest else 0.0)
        before[node] = heaviest
        for nxt in dependents[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    if len(finish) != len(tasks):
        raise ValueError("the dependencies have a cycle")
    end = max(finish, key=finish.__getitem__) if finish else None
    effort = finish[end] if end is not None else 0.0
    path: list[str] = []
    while end is not None:
        path.append(end)
        end = before[end]
    return {"levels": max(level.values(), default=-1) + 1, "critical_path": path[::-1],
            "critical_path_effort": effort}


def ready_rows(view: PlanView, limit: int | None = 20) -> list[dict[str, Any]]:
    """:func:`ready` as full task objects: what the command line prints."""
    return [view.tasks[tid] for tid in ready(view, limit)]


def main(argv: list[str] | None = None) -> int:
    """``FILE ready [--limit K]``: print the top-K (default: all) ready tasks as a JSON list (the process-level peer)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[1] != "ready":
        print("usage: python -m stress.peers.json_file_plan FILE ready [--limit K]", file=sys.stderr)
        return 2
    limit = int(args[3]) if len(args) >= 4 and args[2] == "--limit" else None
    print(json.dumps(ready_rows(load(args[0]), limit), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
