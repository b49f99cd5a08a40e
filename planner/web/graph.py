"""The dependency graph of a subtree, laid out by levels, with its critical path.

Nodes are the subtree's leaves (the work) and its containers that have dependencies of
their own; an arc ``a -> b`` says that ``b`` depends on ``a`` (both inside the subtree; the
dependencies that reach outside it are counted on the node as ``outside``). A node's
``level`` is the length of the longest chain of arcs that leads to it, so every arc goes
to a higher level and a drawing by columns reads left to right; within a level, nodes are
ordered by the mean position of their predecessors (one barycentre pass, which removes
most crossings). The critical path is the chain of arcs with the most effort (leaf effort;
a container weighs nothing), ties broken by id.

Built from the service's queries only (``tree`` and ``show``), so the same code draws the
live project and the project at a past seq. O(subtree x degree); refused beyond ``limit``
tasks (a drawing of thousands of boxes helps nobody: pick a smaller subtree).
"""

from __future__ import annotations

from typing import Any

from planner.domain.errors import DomainError

LIMIT = 400


def _ids(nodes: list[dict[str, Any]]) -> list[str]:
    """Every id in a tree, in preorder (the tree's own order)."""
    out, stack = [], list(reversed(nodes))
    while stack:
        node = stack.pop()
        out.append(node["id"])
        stack.extend(reversed(node["children"]))
    return out


def subtree_graph(view: Any, root: str | None = None, limit: int = LIMIT) -> dict[str, Any]:
    """The graph of ``root``'s subtree (the whole project when None), for drawing: ``nodes``
    (id, title, state, effort, level, order, critical, outside), ``edges`` ([from, to]),
    ``critical_path`` (ids, first to last) and its ``critical_effort``. Raises DomainError
    beyond ``limit`` tasks, UnknownTask for an unknown root."""
    if root is None and view.status()["tasks"] > limit:
        raise DomainError(f"the project has {view.status()['tasks']:,} tasks and the graph draws at most {limit}: "
                          "pick a subtree (root=TASK)")
    ids = _ids(view.tree(root))
    if len(ids) > limit:
        raise DomainError(f"the subtree of {root} has {len(ids):,} tasks and the graph draws at most {limit}: "
                          "pick a smaller subtree")
    inside = set(ids)
    shown = {t: view.show(t) for t in ids}
    keep = [t for t in ids if not shown[t]["children"] or shown[t]["depends_on"] or
            any(d in inside for d in shown[t]["dependents"])]
    kept = set(keep)
    preds = {t: [d for d in shown[t]["depends_on"] if d in kept] for t in keep}
    # levels and the heaviest chain, in one pass over a topological order (the log keeps the graph acyclic)
    order, pending = [], {t: len(preds[t]) for t in keep}
    succs: dict[str, list[str]] = {t: [] for t in keep}
    for t in keep:
        for d in preds[t]:
            succs[d].append(t)
    queue = [t for t in keep if not pending[t]]
    while queue:
        t = queue.pop()
        order.append(t)
        for s in succs[t]:
            pending[s] -= 1
            if not pending[s]:
                queue.append(s)
    effort = {t: 0.0 if shown[t]["children"] else float(shown[t]["effort"]) for t in keep}
    level: dict[str, int] = {}
    best: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for t in order:
        level[t] = max((level[d] + 1 for d in preds[t]), default=0)
        before = max(preds[t], key=lambda d: (best[d], d), default=None)
        best[t] = effort[t] + (best[before] if before is not None else 0.0)
        via[t] = before
    path: list[str] = []
    end = max(keep, key=lambda t: (best[t], t), default=None)
    while end is not None:
        path.append(end)
        end = via[end]
    path.reverse()
    # rows: level 0 in the tree's order, then each level by its predecessors' mean row
    row: dict[str, float] = {}
    by_level: dict[int, list[str]] = {}
    position = {t: i for i, t in enumerate(keep)}
    for t in sorted(keep, key=lambda t: (level[t], position[t])):
        by_level.setdefault(level[t], []).append(t)
    for n in sorted(by_level):
        members = by_level[n]
        if n:
            members.sort(key=lambda t: (sum(row[d] for d in preds[t]) / len(preds[t]), position[t]))
        for i, t in enumerate(members):
            row[t] = i
    critical = set(path)
    nodes = [{"id": t, "title": shown[t]["title"], "state": shown[t]["state"], "done": shown[t]["done"],
              "ready": shown[t]["ready"], "effort": effort[t], "container": bool(shown[t]["children"]),
              "level": level[t], "order": int(row[t]), "critical": t in critical,
              "outside": sum(1 for d in shown[t]["depends_on"] if d not in inside)}
             for t in keep]
    edges = [[d, t] for t in keep for d in preds[t]]
    return {"root": root, "nodes": nodes, "edges": edges, "critical_path": path,
            "critical_effort": round(best[path[-1]], 6) if path else 0.0, "levels": len(by_level)}
