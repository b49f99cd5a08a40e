"""The task graph projection: tasks, their tree, dependencies, and the ready queue.

``TaskGraph.apply(seq, event)`` is the planner's *evolve*: pure (no clock, no
I/O), total on a valid log, and incremental. What it maintains, per task:

* ``done``: a leaf is done when its state is in :data:`projections.states.DONE`;
  a container (a task with children) when every child is done.
* ``open_deps``: how many of the tasks it depends on are not done.
* ``held``: how many of its containers have open dependencies (a container's
  dependencies hold back everything under it).
* ready: a pending leaf with ``open_deps == 0`` and ``held == 0``. The ready
  queue is a ``SortedList`` ordered by priority (highest first), then
  critical-path weight (highest first: the effort of the longest chain of work
  from the task's start to the end of the project, see
  :mod:`projections.analysis`), then age (the seq of the event that added the
  task), then id.

Costs per event: a state change O(log n) plus the dependents and containers
whose done-ness flips with it; adding a dependency O(depth + log n); when a
container's open dependencies go from none to some (or back), O(its subtree).
Weights change only with the structure (a task added, moved or re-estimated,
a dependency added or removed), and one such event can change the weight of
every task upstream of it, so they are not pushed per event: the event marks
them stale, and the next query of the ready queue recomputes all weights in
one O(n + e) pass and re-sorts the ready queue, O(r log r) for r ready tasks.
State changes, the bulk of a working project's events, never touch them.
``recompute()`` rebuilds everything from the stored facts in O(n + e), for
tests and ``replay --verify``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sortedcontainers import SortedList

from .agents import AgentBoard
from .dependencies import DependencyIndex
from .states import DONE, PRIORITY_RANK, TaskState

#: event type -> the TaskGraph method that folds it (filled on first use)
_HANDLERS: dict[str, Any] = {}


class TaskNode:
    """One task as the projection sees it (facts from events, plus derived counters)."""

    __slots__ = (
        "id", "title", "description", "parent", "priority", "effort", "capabilities",
        "metadata", "verify_command", "state", "added_seq", "checkpoint",
        "done", "open_children", "open_deps", "held", "weight",
    )

    def __init__(self, event: Any, seq: int):
        self.id: str = event.id
        self.title: str = event.title
        self.description: str = event.description
        self.parent: str | None = event.parent
        self.priority: str = event.priority
        self.effort: float = event.effort
        self.capabilities: tuple[str, ...] = event.capabilities
        self.metadata: dict[str, Any] = dict(event.metadata)
        self.verify_command: str | None = event.verify_command
        self.state: TaskState = TaskState.PENDING
        self.added_seq = seq
        self.checkpoint: dict[str, Any] | None = None
        self.done = False
        self.open_children = 0
        self.open_deps = 0
        self.held = 0
        self.weight = event.effort  # until the graph's next weight refresh

    def ready_key(self) -> tuple:
        return (-PRIORITY_RANK[self.priority], -self.weight, self.added_seq, self.id)


class TaskGraph:
    """See the module docstring."""

    def __init__(self) -> None:
        self.seq = 0
        self.name: str | None = None
        self.description = ""
        self.mode = "planning"
        self.max_depth = 8
        self.lease_ttl = 300.0
        self.max_attempts = 3
        self.agents = AgentBoard()
        self.tasks: dict[str, TaskNode] = {}
        self.index = DependencyIndex()
        self.counts: Counter[TaskState] = Counter()  # leaves per state
        self.ready: SortedList = SortedList()
        self.weights_fresh = True  # False after a structural change: see refresh_weights()
        self.highest_number = 0  # the largest n of a task id T<n>: the next generated id is above it

    # -- queries -----------------------------------------------------------
    def is_ready(self, node: TaskNode) -> bool:
        return (
            node.state is TaskState.PENDING and node.open_deps == 0 and node.held == 0
            and not self.index.children[node.id]
        )

    def ready_ids(self, limit: int | None = None) -> list[str]:
        """The ready tasks, best first. O(limit) (O(k + log n) for a slice), after a
        weight refresh if the structure changed since the last one."""
        self.refresh_weights()
        keys = self.ready if limit is None else self.ready[:limit]
        return [key[-1] for key in keys]

    def refresh_weights(self) -> None:
        """Recompute every task's critical-path weight if the structure changed, and
        re-sort the ready queue by them. O(n + e + r log r); nothing when fresh."""
        if self.weights_fresh:
            return
        from .analysis import Structure  # the analysis module is only needed once weights are

        weights = Structure.of_graph(self).weights()
        for task, node in self.tasks.items():
            node.weight = weights[task]
        self.ready = SortedList(self.tasks[key[-1]].ready_key() for key in self.ready)
        self.weights_fresh = True

    # -- evolve --------------------------------------------------------------
    def apply(self, seq: int, event: Any) -> None:
        """Fold one event (a :mod:`planner.domain.events` model, or a :class:`planner.domain.trusted.Fact`)."""
        handler = _HANDLERS.get(event.type)
        if handler is None:
            handler = _HANDLERS[event.type] = getattr(TaskGraph, "_on_" + event.type.replace(".", "_"))
        handler(self, event, seq)
        self.seq = seq

    def _on_project_created(self, e: Any, seq: int) -> None:
        self.name, self.description, self.mode, self.max_depth = e.name, e.description, e.mode, e.max_depth
        self.lease_ttl, self.max_attempts = e.lease_ttl, e.max_attempts

    # agents and leases: the board keeps them; the task's state changes come as their own events
    def _on_agent_registered(self, e: Any, seq: int) -> None:
        self.agents.registered(e)

    def _on_agent_deregistered(self, e: Any, seq: int) -> None:
        self.agents.deregistered(e)

    def _on_agent_heartbeat(self, e: Any, seq: int) -> None:
        self.agents.heard(e.agent, e.at)

    def _on_task_assigned(self, e: Any, seq: int) -> None:
        self.agents.assigned(e)

    def _on_lease_renewed(self, e: Any, seq: int) -> None:
        self.agents.renewed(e)

    def _on_lease_released(self, e: Any, seq: int) -> None:
        self.agents.ended(e.id)

    def _on_lease_expired(self, e: Any, seq: int) -> None:
        self.agents.ended(e.id)

    def _on_project_mode_changed(self, e: Any, seq: int) -> None:
        self.mode = e.mode

    def _on_task_added(self, e: Any, seq: int) -> None:
        self.weights_fresh = False
        node = TaskNode(e, seq)
        self.tasks[node.id] = node
        self._count_number(node.id)
        parent = self.tasks[e.parent] if e.parent is not None else None
        if parent is not None and not self.index.children[parent.id]:
            self._unrank(parent)  # a leaf that gains a child becomes a container:
            self.counts[parent.state] -= 1  # no longer counted, claimed or ready itself
        self.index.add_task(node.id, e.parent)
        self.counts[node.state] += 1
        if parent is not None:
            node.held = parent.held + (1 if parent.open_deps else 0)
            parent.open_children += 1  # the new child is pending, so not done
            self._refresh_done(parent)
        self._rank(node)

    def _on_task_edited(self, e: Any, seq: int) -> None:
        if e.effort is not None:
            self.weights_fresh = False
        node = self.tasks[e.id]
        self._unrank(node)
        for field in ("title", "description", "priority", "effort", "capabilities", "metadata", "verify_command"):
            value = getattr(e, field)
            if value is not None:
                setattr(node, field, dict(value) if field == "metadata" else value)
        self._rank(node)

    def _on_task_moved(self, e: Any, seq: int) -> None:
        self.weights_fresh = False
        node = self.tasks[e.id]
        old = self.tasks[node.parent] if node.parent is not None else None
        if old is not None:
            old.open_children -= 0 if node.done else 1
            if len(self.index.children[old.id]) == 1:  # old parent becomes a leaf again
                self.counts[old.state] += 1
        self.index.move(node.id, e.parent)
        node.parent = e.parent
        new = self.tasks[e.parent] if e.parent is not None else None
        if new is not None:
            if len(self.index.children[new.id]) == 1:  # new parent was a leaf
                self._unrank(new)
                self.counts[new.state] -= 1
            new.open_children += 0 if node.done else 1
        self._set_held_from_parent(node)
        for parent in (old, new):
            if parent is not None:
                self._refresh_done(parent)
                self._rank(parent)

    def _on_dependency_added(self, e: Any, seq: int) -> None:
        self.weights_fresh = False
        self.index.add_edge(e.task, e.depends_on)
        if not self.tasks[e.depends_on].done:
            self._change_open_deps(self.tasks[e.task], +1)

    def _on_dependency_removed(self, e: Any, seq: int) -> None:
        self.weights_fresh = False
        self.index.remove_edge(e.task, e.depends_on)
        if not self.tasks[e.depends_on].done:
            self._change_open_deps(self.tasks[e.task], -1)

    def _on_task_state_changed(self, e: Any, seq: int) -> None:
        node = self.tasks[e.id]
        self._unrank(node)
        if not self.index.children[node.id]:
            self.counts[node.state] -= 1
            self.counts[e.to_state] += 1
        node.state = e.to_state
        self._refresh_done(node)
        self._rank(node)

    def _on_project_imported(self, e: Any, seq: int) -> None:
        pass  # an audit record: the tasks it closes were added by the events before it

    def _on_task_checkpointed(self, e: Any, seq: int) -> None:
        self.tasks[e.id].checkpoint = {"seq": seq, "notes": e.notes, "data": dict(e.data), "by": e.by}

    # -- propagation ---------------------------------------------------------
    def _refresh_done(self, node: TaskNode) -> None:
        """Re-derive ``node.done``; on a flip, tell its container and its dependents."""
        done = node.open_children == 0 if self.index.children[node.id] else node.state in DONE
        if done == node.done:
            return
        node.done = done
        step = -1 if done else +1
        for dependent in self.index.dependents[node.id]:
            self._change_open_deps(self.tasks[dependent], step)
        if node.parent is not None:
            parent = self.tasks[node.parent]
            parent.open_children += step
            self._refresh_done(parent)

    def _change_open_deps(self, node: TaskNode, step: int) -> None:
        self._unrank(node)
        was_open = node.open_deps > 0
        node.open_deps += step
        now_open = node.open_deps > 0
        if was_open != now_open:
            for child in self.index.children[node.id]:
                self._shift_held(child, 1 if now_open else -1)
        self._rank(node)

    def _shift_held(self, top: str, step: int) -> None:
        """Add ``step`` to ``held`` for ``top`` and everything under it. O(subtree log n)."""
        stack = [top]
        while stack:
            node = self.tasks[stack.pop()]
            self._unrank(node)
            node.held += step
            self._rank(node)
            stack.extend(self.index.children[node.id])

    def _set_held_from_parent(self, node: TaskNode) -> None:
        parent = self.tasks[node.parent] if node.parent is not None else None
        held = 0 if parent is None else parent.held + (1 if parent.open_deps else 0)
        if held != node.held:
            self._shift_held(node.id, held - node.held)

    def _rank(self, node: TaskNode) -> None:
        if self.is_ready(node):
            self.ready.add(node.ready_key())

    def _unrank(self, node: TaskNode) -> None:
        self.ready.discard(node.ready_key())

    # -- snapshots -----------------------------------------------------------
    #: bump when the snapshot's shape changes: an old snapshot is then replayed instead
    SNAPSHOT_SCHEMA = 3
    #: one row per task, in this order: the facts, then the derived counters (which
    #: the incremental code maintains and the tests check against recompute())
    _ROW = ("id", "title", "description", "parent", "priority", "effort", "capabilities", "metadata",
            "verify_command", "state", "added_seq", "checkpoint",
            "done", "open_children", "open_deps", "held", "weight")

    def to_snapshot(self) -> dict[str, Any]:
        """The graph as plain data: O(n + e) (after a weight refresh if one is due).

        Rows, not objects, so that loading is one tuple unpacking per task.
        """
        self.refresh_weights()
        return {
            "schema": self.SNAPSHOT_SCHEMA, "seq": self.seq, "name": self.name, "description": self.description,
            "mode": self.mode, "max_depth": self.max_depth, "lease_ttl": self.lease_ttl,
            "max_attempts": self.max_attempts, "agents": self.agents.to_dict(), "row": list(self._ROW),
            # parents before children, so loading can add them in this order
            "tasks": [[getattr(self.tasks[t], f) for f in self._ROW] for t in self._parents_first()],
            "edges": sorted((a, b) for a, targets in self.index.depends_on.items() for b in targets),
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> TaskGraph:
        """Rebuild a graph from :meth:`to_snapshot`. O(n log n + e x depth).

        Raises ValueError for another schema (the caller then replays the log).
        The ready queue and the counts are rebuilt from the rows, not stored.
        """
        if snap.get("schema") != cls.SNAPSHOT_SCHEMA or snap.get("row") != list(cls._ROW):
            raise ValueError(f"snapshot schema {snap.get('schema')!r}, expected {cls.SNAPSHOT_SCHEMA}")
        graph = cls()
        graph.seq, graph.name, graph.description = snap["seq"], snap["name"], snap["description"]
        graph.mode, graph.max_depth = snap["mode"], snap["max_depth"]
        graph.lease_ttl, graph.max_attempts = snap["lease_ttl"], snap["max_attempts"]
        graph.agents = AgentBoard.from_dict(snap["agents"])
        graph.index.defer_reach()  # built by the first cycle check, if this process ever makes one
        tasks, add_task, new, state_of = graph.tasks, graph.index.add_task, TaskNode.__new__, TaskState
        for row in snap["tasks"]:
            node = new(TaskNode)
            (node.id, node.title, node.description, node.parent, node.priority, node.effort, capabilities,
             node.metadata, node.verify_command, state, node.added_seq, node.checkpoint,
             node.done, node.open_children, node.open_deps, node.held, node.weight) = row
            node.capabilities = tuple(capabilities)
            node.state = state_of(state)
            tasks[node.id] = node
            add_task(node.id, node.parent)
            graph._count_number(node.id)  # (not stored: derived from the ids as they load)
        add_edge = graph.index.add_edge
        for a, b in snap["edges"]:
            add_edge(a, b)
        children, counts, keys = graph.index.children, Counter(), []
        for task, node in tasks.items():
            if not children[task]:
                counts[node.state] += 1
                if node.state is TaskState.PENDING and not node.open_deps and not node.held:
                    keys.append(node.ready_key())
        graph.counts = counts
        graph.ready = SortedList(keys)
        return graph

    def _count_number(self, task: str) -> None:
        if task[0] == "T" and task[1:].isdigit() and int(task[1:]) > self.highest_number:
            self.highest_number = int(task[1:])

    def _parents_first(self) -> list[str]:
        order, stack = [], sorted((t for t, n in self.tasks.items() if n.parent is None), reverse=True)
        while stack:
            task = stack.pop()
            order.append(task)
            stack.extend(sorted(self.index.children[task], reverse=True))
        return order

    # -- checking ------------------------------------------------------------
    def recompute(self) -> dict[str, Any]:
        """Everything derived, rebuilt from the stored facts: O(n + e). For tests and verify."""
        children = self.index.children
        done: dict[str, bool] = {}

        def is_done(task: str) -> bool:
            if task not in done:
                kids = children[task]
                done[task] = all(is_done(k) for k in kids) if kids else self.tasks[task].state in DONE
            return done[task]

        for task in self.tasks:
            is_done(task)
        open_deps = {t: sum(1 for d in self.index.depends_on[t] if not done[d]) for t in self.tasks}
        held = {t: sum(1 for a in self.index.ancestors(t) if open_deps[a]) for t in self.tasks}
        from .analysis import Structure

        weights = Structure.of_graph(self).weights()
        ready = sorted(
            (-PRIORITY_RANK[node.priority], -weights[t], node.added_seq, t) for t, node in self.tasks.items()
            if not children[t] and node.state is TaskState.PENDING and not open_deps[t] and not held[t]
        )
        counts = Counter(self.tasks[t].state for t in self.tasks if not children[t])
        open_children = {t: sum(1 for c in children[t] if not done[c]) for t in self.tasks}
        return {"done": done, "open_deps": open_deps, "held": held, "ready": ready, "counts": counts,
                "weights": weights, "open_children": open_children, "agents": self.agents.to_dict()}

    def derived(self) -> dict[str, Any]:
        """The incrementally maintained counterparts of :meth:`recompute`."""
        self.refresh_weights()
        return {
            "done": {t: n.done for t, n in self.tasks.items()},
            "open_deps": {t: n.open_deps for t, n in self.tasks.items()},
            "held": {t: n.held for t, n in self.tasks.items()},
            "ready": list(self.ready),
            "counts": +self.counts,
            "weights": {t: n.weight for t, n in self.tasks.items()},
            "open_children": {t: n.open_children for t, n in self.tasks.items()},
            "agents": self.agents.to_dict(),  # facts, not derived: here so a replay is compared on them too
        }
