"""Plan analysis: what can run in parallel, the critical path, bottlenecks, cycles.

The hierarchy semantics (see :mod:`projections.dependencies`) become a plain
DAG by giving every task two nodes, *start* ``S(x)`` and *end* ``E(x)``:

* a leaf is its work: ``S(x) -> E(x)``, weighted with its effort;
* a container opens before its children and closes after them:
  ``S(c) -> S(child)`` and ``E(child) -> E(c)``;
* ``x depends on y``: ``E(y) -> S(x)`` (x starts once y, all of it, is done).

Leaf ``a`` waits on leaf ``b`` exactly when a path leads from ``E(b)`` to
``S(a)``: depending on a container reaches every leaf under it through
``E(child) -> E(c)``, and a container's dependencies reach every leaf under it
through ``S(c) -> S(child)``. So the structure is valid exactly when this
graph is acyclic, and every analysis is a pass over it in topological order.

Costs, for n tasks and e dependency edges (2n nodes, at most 2n + e arcs):

* :func:`build` and the topological order: O(n + e);
* weights (longest remaining path by effort), levels, critical path: O(n + e);
* bottlenecks (transitive dependents of every task): exact, with one bitset
  per node: O((n + e) * leaves / 64) word operations, memory bounded by the
  widest frontier (a node's set is dropped once its last reader has used it);
* strongly connected components (for imported data that may hold cycles):
  O(n + e), iterative Tarjan.

All results are deterministic: ties are broken by task id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .bulk import gc_paused


class Structure:
    """The start/end DAG of a task tree with dependencies.

    ``ids[i]`` is task i; node ``i`` is ``S(ids[i])`` and node ``n + i`` is
    ``E(ids[i])``. ``order`` is a topological order of all 2n nodes, or None
    when the structure has a cycle (see :func:`cycles`).
    """

    __slots__ = ("ids", "pos", "leaf", "effort", "succ", "indegree", "order")

    def __init__(self, parent: Mapping[str, str | None], depends_on: Mapping[str, Iterable[str]],
                 effort: Mapping[str, float]):
        ids = sorted(parent)
        n = len(ids)
        pos = {task: i for i, task in enumerate(ids)}
        has_children = [False] * n
        for up in parent.values():
            if up is not None:
                has_children[pos[up]] = True
        succ: list[list[int]] = [[] for _ in range(2 * n)]
        for i, task in enumerate(ids):
            up = parent[task]
            if not has_children[i]:
                succ[i].append(n + i)  # the leaf's own work
            if up is not None:
                succ[pos[up]].append(i)  # the container opens before its children
                succ[n + i].append(n + pos[up])  # and closes after them
            for dep in depends_on.get(task, ()):
                succ[n + pos[dep]].append(i)
        indegree = [0] * (2 * n)
        for targets in succ:
            for t in targets:
                indegree[t] += 1
        self.ids, self.pos, self.succ, self.indegree = ids, pos, succ, indegree
        self.leaf = [not c for c in has_children]
        self.effort = [float(effort[task]) if self.leaf[i] else 0.0 for i, task in enumerate(ids)]
        self.order = self._topological_order()

    @classmethod
    def of_graph(cls, graph: Any) -> Structure:
        """The structure of a :class:`projections.graph.TaskGraph`."""
        index = graph.index
        return cls(index.parent, index.depends_on, {t: node.effort for t, node in graph.tasks.items()})

    def _topological_order(self) -> list[int] | None:
        """Kahn's algorithm; lowest node first among the free ones is not needed, any order is."""
        remaining = list(self.indegree)
        order = [v for v, d in enumerate(remaining) if d == 0]
        succ = self.succ
        for v in order:  # the list grows while it is walked
            for t in succ[v]:
                remaining[t] -= 1
                if remaining[t] == 0:
                    order.append(t)
        return order if len(order) == len(remaining) else None

    def _require_order(self) -> list[int]:
        if self.order is None:
            raise ValueError("the dependency structure has a cycle: see projections.analysis.cycles")
        return self.order

    # -- longest paths ---------------------------------------------------------------
    def remaining_path(self) -> tuple[list[float], list[int]]:
        """For each node, the effort of the longest path starting at it (its own work
        included) and the next node on that path (-1 at the end). O(n + e)."""
        n2 = len(self.succ)
        n = n2 // 2
        down = [0.0] * n2
        best = [-1] * n2
        succ, effort, leaf = self.succ, self.effort, self.leaf
        for v in reversed(self._require_order()):
            top, pick = 0.0, -1
            for t in succ[v]:
                # ties go to the smaller node, i.e. the smaller task id: deterministic
                if down[t] > top or (down[t] == top and pick != -1 and t < pick) or pick == -1:
                    top, pick = down[t], t
            down[v] = top + (effort[v] if v < n and leaf[v] else 0.0)
            best[v] = pick
        return down, best

    def weights(self) -> dict[str, float]:
        """Per task: the effort on the longest path from its start to the end of the
        project (its own work and everything that must follow it). O(n + e)."""
        down, _ = self.remaining_path()
        return {task: down[i] for i, task in enumerate(self.ids)}

    def critical_path(self) -> tuple[list[str], float]:
        """The chain of leaves with the largest total effort, in order, and that total."""
        down, best = self.remaining_path()
        n = len(self.ids)
        if n == 0:
            return [], 0.0
        start = max(range(n), key=lambda i: (down[i], -i))  # a start node; ties: smallest id
        path, v = [], start
        while v != -1:
            if v < n and self.leaf[v]:
                path.append(self.ids[v])
            v = best[v]
        return path, down[start]

    def levels(self) -> dict[str, int]:
        """Per leaf: how many leaves the longest chain before it has (0: nothing to wait
        for). Leaves at the same level never wait on each other: they can run in parallel."""
        n2 = len(self.succ)
        n = n2 // 2
        before = [0] * n2
        succ, leaf = self.succ, self.leaf
        for v in self._require_order():
            step = before[v] + (1 if v < n and leaf[v] else 0)
            for t in succ[v]:
                if step > before[t]:
                    before[t] = step
        return {task: before[i] for i, task in enumerate(self.ids) if leaf[i]}

    # -- reachability ------------------------------------------------------------------
    def transitive_dependents(self) -> dict[str, int]:
        """Per task: how many leaves wait on it, directly or through others. Exact.

        One bitset (a Python int, one bit per leaf) per node, built in reverse
        topological order; a node's set is dropped as soon as every node that
        reads it is done, so memory follows the frontier, not the graph.
        """
        order = self._require_order()
        n = len(self.ids)
        bit = {}
        for i in range(n):
            if self.leaf[i]:
                bit[i] = 1 << len(bit)
        readers = list(self.indegree)  # how many predecessors still need a node's set
        sets: dict[int, int] = {}
        counts: dict[str, int] = {}
        succ = self.succ
        for v in reversed(order):
            reach = bit.get(v, 0)
            for t in succ[v]:
                reach |= sets[t]
                readers[t] -= 1
                if readers[t] == 0:
                    del sets[t]
            if v >= n:  # E(task): the leaves reachable once the task is done
                counts[self.ids[v - n]] = reach.bit_count()
            if readers[v]:
                sets[v] = reach
        return counts


def cycles(parent: Mapping[str, str | None], depends_on: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    """The cycles of a structure that may hold some (imported data): one entry per
    strongly connected component of the start/end graph that has more than one node,
    as ``{"tasks": [...], "edges": [[task, depends_on], ...]}``, the dependency edges
    inside it (removing enough of them breaks the cycle). O(n + e), iterative Tarjan."""
    structure = Structure(parent, depends_on, {t: 0.0 for t in parent})
    if structure.order is not None:
        return []
    n = len(structure.ids)
    component = _tarjan(structure.succ)
    groups: dict[int, list[int]] = {}
    for node, comp in enumerate(component):
        groups.setdefault(comp, []).append(node)
    found = []
    for nodes in groups.values():
        if len(nodes) < 2:
            continue
        tasks = sorted({structure.ids[v % n] for v in nodes})
        comp = component[nodes[0]]
        edges = sorted([task, dep] for task in tasks for dep in depends_on.get(task, ())
                       if dep in structure.pos and component[n + structure.pos[dep]] == comp
                       and component[structure.pos[task]] == comp)
        found.append({"tasks": tasks, "edges": edges})
    return sorted(found, key=lambda c: c["tasks"])


def _tarjan(succ: list[list[int]]) -> list[int]:
    """Component number of each node (Tarjan, with an explicit stack)."""
    count = len(succ)
    index = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    component = [-1] * count
    stack: list[int] = []
    counter = comps = 0
    for root in range(count):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack[v] = True
            if i < len(succ[v]):
                work.append((v, i + 1))
                t = succ[v][i]
                if index[t] == -1:
                    work.append((t, 0))
                elif on_stack[t]:
                    low[v] = min(low[v], index[t])
                continue
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component[w] = comps
                    if w == v:
                        break
                comps += 1
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return component


@dataclass
class Analysis:
    """The result of :func:`analyze` (JSON-ready through :meth:`to_dict`)."""

    tasks: int
    leaves: int
    total_effort: float
    max_depth: int
    critical_path: list[str]
    critical_path_effort: float
    levels: list[list[str]]
    bottlenecks: list[dict[str, Any]]
    capabilities: dict[str, int]
    remaining_effort: float
    progress: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def analyze(graph: Any, top: int = 10) -> Analysis:
    """Everything above for a :class:`~projections.graph.TaskGraph` (always acyclic).

    ``bottlenecks`` are the ``top`` tasks with the most transitive dependents
    (leaves), ties by id; ``progress`` is done leaf effort over all leaf
    effort (a leaf of zero effort weighs nothing). O(n + e) plus the
    bottleneck bitsets (see :meth:`Structure.transitive_dependents`).
    """
    with gc_paused():
        return _analyze(graph, top)


def _analyze(graph: Any, top: int) -> Analysis:
    structure = Structure.of_graph(graph)
    path, path_effort = structure.critical_path()
    by_level: dict[int, list[str]] = {}
    for task, level in structure.levels().items():
        by_level.setdefault(level, []).append(task)
    dependents = structure.transitive_dependents()
    ranked = sorted(dependents.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    leaves = [node for i, node in enumerate(graph.tasks[t] for t in structure.ids) if structure.leaf[i]]
    total = sum(node.effort for node in leaves)
    done = sum(node.effort for node in leaves if node.done)
    capabilities: dict[str, int] = {}
    for node in leaves:
        for cap in node.capabilities:
            capabilities[cap] = capabilities.get(cap, 0) + 1
    depth = {}
    for task in structure.ids:  # ids are sorted, so compute depths with memo along the parent chain
        chain, up = [], task
        while up is not None and up not in depth:
            chain.append(up)
            up = graph.index.parent[up]
        base = depth[up] if up is not None else 0
        for t in reversed(chain):
            base += 1
            depth[t] = base
    return Analysis(
        tasks=len(structure.ids), leaves=len(leaves), total_effort=total, max_depth=max(depth.values(), default=0),
        critical_path=path, critical_path_effort=path_effort,
        levels=[sorted(by_level[k]) for k in sorted(by_level)],
        bottlenecks=[{"id": t, "dependents": c} for t, c in ranked if c],
        capabilities=dict(sorted(capabilities.items())), remaining_effort=total - done,
        progress=(done / total) if total else (1.0 if leaves and all(n.done for n in leaves) else 0.0),
    )
