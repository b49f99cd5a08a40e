"""The dependency structure of a task tree, and the cycle check for a new edge.

Semantics (the planner's, stated once):

* ``X depends on Y`` means X waits until Y is done; if Y has children, until
  every task under Y is done (a container is done when all its children are).
* A container's dependencies hold back everything under it: if epic E
  depends on D, every task under E waits on D too.

So, between leaves (the tasks that are actually worked on), leaf ``a`` waits on
leaf ``b`` when some task on ``a``'s path to the root depends on some task on
``b``'s path to the root *at or above* ``b``, i.e. on ``b`` or a container of
``b``. The structure is valid when no leaf waits on itself through any chain;
in particular a task may not depend on its own ancestor or descendant.

Checking that naively expands containers into leaves (O(leaves²)). Here it is
done on tasks: a chain of edges ``X1 -> Y1, X2 -> Y2, ...`` links up when each
``X(i+1)`` lies on the same root path as ``Y(i)`` (one is an ancestor-or-self
of the other), because then some leaf is under both. A new edge ``A -> B``
closes a cycle exactly when such a chain leads from B back to a task on A's
root path. To find the next links from a task Y quickly, each task keeps
``reach``: the targets of every edge whose source is in its subtree, with
counts; an edge then updates ``reach`` of its source and the source's
ancestors, O(depth).

Costs: add/remove an edge O(depth); add a task O(depth); the cycle check
O(edges visited x depth), bounded by the edges reachable from B.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable


class DependencyIndex:
    """Tasks in a tree plus dependency edges, kept acyclic by :meth:`cycle_for`."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}  # every task is a key here
        # The three relations below hold only tasks that have some (an empty set costs
        # 216 bytes, three per task a third of a project's memory); reading any other
        # task gives an empty frozenset.
        self.children: dict[str, set[str]] = _Sets()
        self.depends_on: dict[str, set[str]] = _Sets()  # X -> the tasks X depends on
        self.dependents: dict[str, set[str]] = _Sets()  # Y -> the tasks that depend on Y
        # targets of edges from X's subtree; only for tasks that have some (most leaves have none)
        self.reach: dict[str, Counter[str]] = {}
        self.reach_built = True  # False after defer_reach(): rebuilt by the first cycle check

    def defer_reach(self) -> None:
        """Stop maintaining ``reach`` until a cycle check needs it (then it is rebuilt
        in one pass, O(e x depth)). For bulk loads: a process that only queries never
        pays for it (a third of loading a snapshot)."""
        self.reach = {}
        self.reach_built = False

    def _ensure_reach(self) -> None:
        if not self.reach_built:
            self.reach_built = True
            for task, targets in self.depends_on.items():
                for node in self.line(task):
                    counts = self._reach(node)
                    for target in targets:
                        counts[target] += 1

    def fork(self) -> DependencyIndex:
        """A copy to try changes on, made in O(1): it reads through to this index and
        copies an entry only when it first touches it (copy on access). Mutating
        this index while a fork is in use is not allowed. Supports the tree and
        edge methods and :meth:`cycle_for`; not :meth:`find_cycle`, which iterates."""
        self._ensure_reach()  # the fork reads it through, and must not build it in its layer
        fork = DependencyIndex.__new__(DependencyIndex)
        fork.reach_built = True
        fork.parent = _Layer(self.parent)
        fork.children = _Layer(self.children)
        fork.depends_on = _Layer(self.depends_on)
        fork.dependents = _Layer(self.dependents)
        fork.reach = _Layer(self.reach)
        return fork

    # -- the tree ------------------------------------------------------------
    def add_task(self, task: str, parent: str | None) -> None:
        """Add a leaf under ``parent`` (which must exist) or at the top. O(1)."""
        self.parent[task] = parent
        if parent is not None:
            _grow(self.children, parent).add(task)

    def move(self, task: str, parent: str | None) -> None:
        """Re-parent ``task`` (with its subtree). O(depth x distinct targets in the subtree).

        The caller checks first (:meth:`move_cycle`) that the move keeps the structure valid.
        """
        carried = (self.reach.get(task) if self.reach_built else None) or Counter()
        for anc in self.ancestors(task):
            self._sub(anc, carried)
        old = self.parent[task]
        if old is not None:
            _shrink(self.children, old, task)
        self.parent[task] = parent
        if parent is not None:
            _grow(self.children, parent).add(task)
        for anc in self.ancestors(task):
            if carried:
                self._reach(anc).update(carried)

    def ancestors(self, task: str) -> Iterable[str]:
        """Proper ancestors, nearest first. O(depth)."""
        node = self.parent[task]
        while node is not None:
            yield node
            node = self.parent[node]

    def line(self, task: str) -> list[str]:
        """``task`` and its ancestors: the tasks any leaf under ``task`` shares it with."""
        return [task, *self.ancestors(task)]

    def related(self, a: str, b: str) -> bool:
        """True when one of ``a``, ``b`` is an ancestor-or-self of the other. O(depth)."""
        return a in self.line(b) or b in self.line(a)

    # -- edges ---------------------------------------------------------------
    def add_edge(self, task: str, depends_on: str) -> None:
        """Record ``task -> depends_on``; the caller has checked :meth:`cycle_for`. O(depth)."""
        _grow(self.depends_on, task).add(depends_on)
        _grow(self.dependents, depends_on).add(task)
        if self.reach_built:
            for node in self.line(task):
                self._reach(node)[depends_on] += 1

    def remove_edge(self, task: str, depends_on: str) -> None:
        """Drop ``task -> depends_on`` (which must exist). O(depth)."""
        _shrink(self.depends_on, task, depends_on)
        _shrink(self.dependents, depends_on, task)
        if self.reach_built:
            for node in self.line(task):
                self._sub(node, Counter({depends_on: 1}))

    def _reach(self, node: str) -> Counter[str]:
        reach = self.reach.get(node)
        if reach is None:
            reach = self.reach[node] = Counter()
        return reach

    def _sub(self, node: str, counts: Counter[str]) -> None:
        if not counts:
            return
        reach = self.reach[node]
        reach.subtract(counts)
        for target in counts:
            if reach[target] <= 0:
                del reach[target]

    # -- validity ------------------------------------------------------------
    def cycle_for(self, task: str, depends_on: str) -> list[tuple[str, str]] | None:
        """The existing edges that ``task -> depends_on`` would close a cycle with, or None.

        ``[]`` when the edge is invalid by itself (a task depending on itself,
        its ancestor or its descendant); otherwise the chain of existing edges
        leading from ``depends_on`` back to a task that shares a leaf with
        ``task``, in order (breadth-first, so a shortest one). Removing any one
        of them removes this cycle.
        """
        return self._chain_back(depends_on, set(self.line(task)), task)

    def cycle_for_new(self, parent: str | None, depends_on: str) -> list[tuple[str, str]] | None:
        """:meth:`cycle_for` for a task not added yet, to be placed under ``parent``.

        The new task has no subtree, so an edge from it closes a cycle exactly
        when a chain from ``depends_on`` reaches one of its future containers.
        """
        line = set(self.line(parent)) if parent is not None else set()
        return self._chain_back(depends_on, line, None)

    def _chain_back(self, start: str, goal: set[str], task: str | None) -> list[tuple[str, str]] | None:
        """Breadth-first from ``start`` to a target that shares a leaf with ``task``
        (one in ``goal``, ``task``'s line, or one with ``task`` in its own line)."""
        self._ensure_reach()
        came_from: dict[str, str | None] = {start: None}  # target -> the target before it
        queue = deque([start])
        while queue:
            y = queue.popleft()
            if y in goal or (task is not None and task in self.line(y)):  # y and task share a leaf
                return self._edges(came_from, y)
            for target in self._next_targets(y):
                if target not in came_from:
                    came_from[target] = y
                    queue.append(target)
        return None

    def _next_targets(self, y: str) -> Iterable[str]:
        """Targets of the edges whose source shares a leaf with ``y``."""
        for node in self.line(y):  # y and its containers
            yield from self.depends_on[node]
        yield from self.reach.get(y, ())  # everything under y

    def _edges(self, came_from: dict[str, str | None], end: str) -> list[tuple[str, str]]:
        hops = []
        target = end
        while came_from[target] is not None:
            before = came_from[target]
            hops.append((self._source(before, target), target))
            target = before
        return hops[::-1]

    def _source(self, y: str, target: str) -> str:
        """A source of an edge to ``target`` that shares a leaf with ``y``."""
        for node in self.line(y):
            if target in self.depends_on[node]:
                return node
        return next(x for x in self.dependents[target] if y in self.line(x))

    def find_cycle(self) -> list[tuple[str, str]] | None:
        """Any cycle in the whole structure, as its edges, or None. O(tasks + edges).

        Depth-first over three states per task: *entry* (reached as a target),
        *up* and *down* (walking to the containers, or into the subtree, of the
        target: the tasks that share a leaf with it), taking an edge from any
        up or down state to the entry of its target.
        """
        grey, black = 1, 2
        color: dict[tuple[str, str], int] = {}
        for root in self.parent:
            if color.get(("e", root)):
                continue
            stack = [(("e", root), self._successors(("e", root)))]
            color[("e", root)] = grey
            while stack:
                state, successors = stack[-1]
                nxt = next(successors, None)
                if nxt is None:
                    color[state] = black
                    stack.pop()
                    continue
                seen = color.get(nxt)
                if seen == grey:  # back edge: the cycle is the stack from nxt on
                    at = next(i for i, (s, _) in enumerate(stack) if s == nxt)
                    states = [s for s, _ in stack[at:]] + [nxt]
                    return [(a[1], b[1]) for a, b in zip(states, states[1:], strict=False) if a[0] != "e" and b[0] == "e"]
                if seen is None:
                    color[nxt] = grey
                    stack.append((nxt, self._successors(nxt)))
        return None

    def _successors(self, state: tuple[str, str]) -> Iterable[tuple[str, str]]:
        kind, node = state
        if kind == "e":
            yield ("u", node)
            yield ("d", node)
            return
        for target in self.depends_on[node]:
            yield ("e", target)
        if kind == "u":
            if self.parent[node] is not None:
                yield ("u", self.parent[node])
        else:
            for child in self.children[node]:
                yield ("d", child)

    def move_cycle(self, task: str, parent: str | None) -> list[tuple[str, str]] | None:
        """The cycle that moving ``task`` under ``parent`` would create, or None.

        ``[]`` when ``parent`` is ``task`` itself or under it. A move changes
        which tasks share leaves, so the whole structure is re-checked with the
        move applied (O(tasks + edges)); the index is left as it was.
        """
        if parent is not None and task in self.line(parent):
            return []
        old = self.parent[task]
        self.move(task, parent)
        try:
            return self.find_cycle()
        finally:
            self.move(task, old)


_NONE: frozenset[str] = frozenset()


class _Sets(dict):
    """task -> set, where a task that is not a key reads as an empty frozenset (not stored)."""

    def __missing__(self, key: str) -> frozenset[str]:
        return _NONE


def _grow(sets: dict, key: str) -> set[str]:
    """The mutable set of ``key``, created (or thawed from a fork's empty one) if needed."""
    value = sets[key]
    if type(value) is not set:
        value = sets[key] = set(value)
    return value


def _shrink(sets: dict, key: str, item: str) -> None:
    """Remove ``item`` from the set of ``key`` (which holds it); drop the set when empty."""
    value = _grow(sets, key)
    value.remove(item)
    if not value:
        sets[key] = _NONE  # (not `del`: in a fork, the base's entry would show through again)


class _Layer(dict):
    """A dict over a base dict: a key not set here is copied up from the base on first
    access (sets and counters are copied, so changes never reach the base)."""

    def __init__(self, base: dict):
        super().__init__()
        self.base = base

    def __missing__(self, key):
        value = self.base[key]
        if isinstance(value, set | Counter):
            value = value.copy()
        self[key] = value
        return value

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self.base

    def get(self, key, default=None):
        return self[key] if key in self else default  # noqa: SIM401 - self.get would recurse; [] copies up
