"""Read views of a :class:`~projections.graph.TaskGraph` as plain, JSON-ready data.

Pure functions of the graph (and, for agents' health, of a ``now`` the caller
passes: a view never reads the clock). The engine's query methods, the service
(:mod:`planner.service`) and every adapter above it show exactly these shapes;
``planner.service.schema`` documents them field by field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .graph import TaskGraph


def task(graph: TaskGraph, task_id: str) -> dict[str, Any] | None:
    """One task: facts, derived state, dependencies, checkpoint, lease. None when unknown.
    O(degree) for a leaf; O(subtree) for a container, whose effort and capabilities are its
    leaves' (:func:`leaf_work`). The rule, shared by show, export and analysis: only leaves are
    work an agent claims, so a container's own effort and capabilities (set before it had
    children, or by an import) count for nothing, and it cannot be given new ones."""
    node = graph.tasks.get(task_id)
    if node is None:
        return None
    index = graph.index
    lease = graph.agents.leases.get(task_id)
    effort, capabilities = leaf_work(graph, task_id) if index.children[task_id] else (node.effort, node.capabilities)
    return {
        "id": node.id, "title": node.title, "description": node.description, "parent": node.parent,
        "children": sorted(index.children[task_id]), "priority": node.priority, "effort": effort,
        "capabilities": list(capabilities), "metadata": node.metadata,
        "verify_command": node.verify_command, "state": str(node.state),
        "ready": graph.is_ready(node), "done": node.done,
        "depends_on": sorted(index.depends_on[task_id]), "dependents": sorted(index.dependents[task_id]),
        "checkpoint": node.checkpoint,
        "lease": lease_view(lease) if lease is not None else None,
        "attempts": graph.agents.attempts.get(task_id, 0),
    }


def leaf_work(graph: TaskGraph, task_id: str) -> tuple[float, list[str]]:
    """The effort (sum) and capabilities (sorted union) of the leaves under ``task_id``. O(subtree)."""
    children, tasks = graph.index.children, graph.tasks
    effort, capabilities, stack = 0.0, set(), [task_id]
    while stack:
        t = stack.pop()
        if children[t]:
            stack.extend(children[t])
        else:
            effort += tasks[t].effort
            capabilities.update(tasks[t].capabilities)
    return effort, sorted(capabilities)


def ready(graph: TaskGraph, limit: int | None = None, capabilities: Any = None) -> list[dict[str, Any]]:
    """Ready tasks, best first, with what an agent needs to choose. With ``capabilities`` (a
    collection), only the tasks those capabilities cover. O(limit + log n) without a filter;
    O(ready) scanned at worst with one."""
    nodes = graph.tasks
    if capabilities is None:
        ids = graph.ready_ids(limit)
    else:
        have = set(capabilities)
        ids = []
        graph.refresh_weights()
        for key in graph.ready:  # best first; stops at the limit
            t = key[-1]
            if have.issuperset(nodes[t].capabilities):
                ids.append(t)
                if limit is not None and len(ids) >= limit:
                    break
    return [{"id": t, "title": n.title, "priority": n.priority, "effort": n.effort, "weight": n.weight,
             "capabilities": list(n.capabilities), "parent": n.parent}
            for t in ids for n in (nodes[t],)]


def status(graph: TaskGraph) -> dict[str, Any]:
    """The project in numbers. O(states)."""
    counts = {str(state): n for state, n in sorted(graph.counts.items()) if n}
    leaves = sum(counts.values())
    completed = counts.get("completed", 0)
    return {
        "project": graph.name, "mode": graph.mode, "seq": graph.seq, "tasks": len(graph.tasks),
        "max_depth": graph.max_depth, "lease_ttl": graph.lease_ttl, "max_attempts": graph.max_attempts,
        "leaves_by_state": counts, "ready": len(graph.ready), "held": len(graph.agents.leases),
        "progress": {"completed": completed, "leaves": leaves,
                     "fraction": round(completed / leaves, 4) if leaves else 1.0},
    }


def health(agent: dict[str, Any], now: float, ttl: float) -> str:
    """``alive`` (heard from within the lease TTL), ``silent for N s``, or ``deregistered``.
    Working agents are heard from at least every TTL/2 (renewals, heartbeats), and one
    silent for a whole TTL loses its leases."""
    if not agent["active"]:
        return "deregistered"
    silent = now - agent["last_seen"]
    return "alive" if silent < ttl else f"silent for {silent:.0f} s"


def iso(when: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC (to the second), for people reading JSON."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lease_view(lease: Any) -> dict[str, Any]:
    """A lease as plain data, with its expiry also in ISO 8601 (``expires``)."""
    found = lease.to_dict()
    found["expires"] = iso(found["expires_at"])
    return found


def agents(graph: TaskGraph, now: float | None = None, only: str | None = None) -> list[dict[str, Any]]:
    """Every agent (or just ``only``): kind, capabilities, capacity, leases held, when last heard
    from; with ``now``, also its ``health`` and each lease's ``expires_in`` (seconds). O(agents + leases)."""
    board = graph.agents
    chosen = board.agents.values() if only is None else [a for a in (board.agents.get(only),) if a is not None]
    rows = []
    for a in sorted(chosen, key=lambda a: a.id):
        row = {"id": a.id, "kind": a.kind, "capabilities": sorted(a.capabilities), "capacity": a.capacity,
               "active": a.active, "last_seen": a.last_seen,
               "leases": [lease_view(board.leases[t]) for t in sorted(a.held)],
               "effort_held": sum(graph.tasks[t].effort for t in a.held)}
        if now is not None:
            row["health"] = health(row, now, graph.lease_ttl)
            for lease in row["leases"]:
                lease["expires_in"] = round(lease["expires_at"] - now, 1)
        rows.append(row)
    return rows


def tree(graph: TaskGraph, root: str | None = None, depth: int | None = None) -> list[dict[str, Any]]:
    """The task tree (children in the order they were added), from the top or from ``root``,
    ``depth`` levels deep (all when None; a cut node says how many children it hides). O(nodes shown)."""
    index, tasks = graph.index, graph.tasks

    def node(t: str, level: int) -> dict[str, Any]:
        n = tasks[t]
        kids = sorted(index.children[t], key=lambda c: tasks[c].added_seq)
        shown = depth is None or level < depth
        return {"id": t, "title": n.title, "state": str(n.state), "done": n.done, "ready": graph.is_ready(n),
                "children": [node(c, level + 1) for c in kids] if shown else [],
                "hidden_children": 0 if shown else len(kids)}

    if root is not None:
        return [node(root, 1)]
    roots = sorted((t for t in tasks if tasks[t].parent is None), key=lambda t: tasks[t].added_seq)
    return [node(t, 1) for t in roots]
