"""A reference model of one project: plain dicts and brute force, written from the rules in the
README and :mod:`projections.states`, not from the engine's projections.

It has two users:

* the whole-system Hypothesis test (``tests/system``) asks it what a command
  should do (is this task ready? would this edge close a cycle?) and compares
  the planner's answer and state with it after every step;
* the stress runners' verification (:mod:`stress.verify`) replays a raw log
  through :meth:`Model.apply`, which raises :class:`Violation` for any event
  that is illegal where it stands.

What :meth:`Model.apply` and :meth:`Model.settle` check, per event and per batch:

* I3: a task gets a lease only when it has none; tokens strictly increase;
  renewals, releases and expiries name the live token; an agent never holds
  more than its capacity; at the end of every batch each leased task is
  assigned, in progress or blocked.
* I5: every state change starts from the task's current state, is in
  :data:`projections.states.TRANSITIONS`, is made on a leaf (containers roll up),
  and a task starts (assigned, in progress) only when everything it waits on
  is done.
* I6: at the end of every batch that changed the structure, no leaf waits on
  itself. (A batch only adds edges and tasks, so acyclic at its end means
  acyclic at every seq inside it.)

Costs are deliberately naive, to stay obviously right: ``is_done`` is
O(subtree), a start check O(depth x deps x subtree), the cycle check
O(leaves x waits). Fine for the thousands of tasks the stress runners use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from projections.states import TRANSITIONS

PENDING, ASSIGNED, IN_PROGRESS, BLOCKED = "pending", "assigned", "in_progress", "blocked"
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
STARTED = (ASSIGNED, IN_PROGRESS)
LEASABLE = (ASSIGNED, IN_PROGRESS, BLOCKED)
LEGAL = {str(a): {str(b) for b in bs} for a, bs in TRANSITIONS.items()}
_STRUCTURAL = {"task.added", "task.moved", "dependency.added"}


class Violation(AssertionError):
    """An event that breaks an invariant; the message names the seq, the event and the rule."""


@dataclass
class MTask:
    parent: str | None
    priority: str = "medium"
    effort: float = 1.0
    capabilities: tuple[str, ...] = ()
    state: str = PENDING
    deps: set[str] = field(default_factory=set)
    checkpoint: str | None = None  # the notes of the last checkpoint
    added: int = 0  # seq of task.added: the ready queue's last tie-break


@dataclass
class MAgent:
    capacity: int
    capabilities: frozenset[str]
    last_seen: float
    active: bool = True
    held: set[str] = field(default_factory=set)


@dataclass
class MLease:
    agent: str
    token: int
    expires_at: float
    renewed_at: float
    attempt: int


class Model:
    """One project's facts as plain dicts. See the module docstring."""

    def __init__(self) -> None:
        self.tasks: dict[str, MTask] = {}
        self.agents: dict[str, MAgent] = {}
        self.leases: dict[str, MLease] = {}
        self.attempts: dict[str, int] = {}
        self.last_token = 0
        self.mode = "planning"
        self.max_depth = 8
        self.lease_ttl = 300.0
        self.max_attempts = 3
        self.seq = 0
        self._structure_changed = False

    # -- the tree and what waits on what ----------------------------------------
    def children(self, task: str) -> list[str]:
        return [t for t, n in self.tasks.items() if n.parent == task]

    def line(self, task: str) -> list[str]:
        """``task`` and its containers, up to the top."""
        out = []
        while task is not None:
            out.append(task)
            task = self.tasks[task].parent
        return out

    def leaves(self, task: str) -> list[str]:
        kids = self.children(task)
        return [leaf for kid in kids for leaf in self.leaves(kid)] if kids else [task]

    def is_done(self, task: str) -> bool:
        kids = self.children(task)
        return all(self.is_done(k) for k in kids) if kids else self.tasks[task].state == COMPLETED

    def waits_on(self, task: str) -> set[str]:
        """Every task ``task`` waits for: its dependencies and its containers'."""
        return {d for a in self.line(task) for d in self.tasks[a].deps}

    def can_start(self, task: str) -> bool:
        return all(self.is_done(d) for d in self.waits_on(task))

    def is_ready(self, task: str) -> bool:
        node = self.tasks[task]
        return node.state == PENDING and not self.children(task) and task not in self.leases and self.can_start(task)

    def ready(self) -> list[str]:
        return sorted(t for t in self.tasks if self.is_ready(t))

    def depth(self, task: str | None) -> int:
        return 0 if task is None else len(self.line(task))

    def height(self, task: str) -> int:
        return 1 + max((self.height(k) for k in self.children(task)), default=0)

    def has_cycle(self) -> bool:
        """Does any leaf wait on itself? Leaf ``a`` waits directly on every leaf under every
        task that a task on ``a``'s line depends on; a cycle in that relation is a deadlock."""
        leaves = [t for t in self.tasks if not self.children(t)]
        edges = {a: {b for d in self.waits_on(a) for b in self.leaves(d)} for a in leaves}
        colour: dict[str, int] = {}  # 1: on the stack, 2: finished
        for root in leaves:
            if root in colour:
                continue
            colour[root] = 1
            stack = [(root, iter(edges[root]))]
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    colour[node] = 2
                    stack.pop()
                elif colour.get(nxt) == 1:
                    return True
                elif nxt not in colour:
                    colour[nxt] = 1
                    stack.append((nxt, iter(edges[nxt])))
        return False

    def would_cycle(self, task: str | None = None, depends_on: str | None = None,
                    move: tuple[str, str | None] | None = None) -> bool:
        """:meth:`has_cycle` with one edge added or one task moved, the model left as it was."""
        if move is not None:
            moved, parent = move
            old = self.tasks[moved].parent
            self.tasks[moved].parent = parent
            try:
                return self.has_cycle()
            finally:
                self.tasks[moved].parent = old
        deps = self.tasks[task].deps
        if depends_on in deps:
            return self.has_cycle()
        deps.add(depends_on)
        try:
            return self.has_cycle()
        finally:
            deps.discard(depends_on)

    # -- agents and leases ------------------------------------------------------
    def due(self, now: float) -> list[str]:
        """Leased tasks whose lease has run out at ``now``: not renewed in time, or held by an
        agent not heard from for the project's TTL. Sorted by task id."""
        return sorted(t for t, lease in self.leases.items()
                      if lease.expires_at <= now or self.agents[lease.agent].last_seen <= now - self.lease_ttl)

    def fits(self, agent: str, task: str) -> bool:
        return set(self.tasks[task].capabilities) <= self.agents[agent].capabilities

    # -- replaying events, with the checks --------------------------------------
    def fail(self, why: str, kind: str, data: dict[str, Any]) -> Violation:
        return Violation(f"seq {self.seq}: {kind} {data}: {why}")

    def apply(self, seq: int, kind: str, data: dict[str, Any]) -> None:
        """Fold one event, checking I3 and I5 for it. Raises :class:`Violation`."""
        self.seq = seq
        handler = getattr(self, "_on_" + kind.replace(".", "_"), None)
        if handler is None:
            raise self.fail("unknown event type", kind, data)
        handler(kind, data)
        if kind in _STRUCTURAL:
            self._structure_changed = True

    def settle(self) -> None:
        """The end of a batch: every lease sits on a task someone can be working on, and
        (after a structural change) the graph is acyclic. Raises :class:`Violation`."""
        for task, lease in self.leases.items():
            if self.tasks[task].state not in LEASABLE:
                raise Violation(f"seq {self.seq}: {task} is {self.tasks[task].state} but leased "
                                f"(token {lease.token}) at the end of a batch")
        if self._structure_changed:
            self._structure_changed = False
            if self.has_cycle():
                raise Violation(f"seq {self.seq}: the dependency graph has a cycle")

    def _task(self, task: str, kind: str, data: dict[str, Any]) -> MTask:
        if task not in self.tasks:
            raise self.fail(f"unknown task {task}", kind, data)
        return self.tasks[task]

    def _live_lease(self, kind: str, data: dict[str, Any]) -> MLease:
        lease = self.leases.get(data["id"])
        if lease is None or lease.token != data["token"]:
            raise self.fail(f"token {data['token']} is not the live lease ({lease and lease.token})", kind, data)
        return lease

    def _on_project_created(self, kind: str, d: dict[str, Any]) -> None:
        self.mode = d.get("mode", "planning")
        self.max_depth = d.get("max_depth", 8)
        self.lease_ttl = d.get("lease_ttl", 300.0)
        self.max_attempts = d.get("max_attempts", 3)

    def _on_project_mode_changed(self, kind: str, d: dict[str, Any]) -> None:
        self.mode = d["mode"]

    def _on_project_imported(self, kind: str, d: dict[str, Any]) -> None:
        pass  # an audit record

    def _on_task_added(self, kind: str, d: dict[str, Any]) -> None:
        if d["id"] in self.tasks:
            raise self.fail("added twice", kind, d)
        parent = d.get("parent")
        if parent is not None:
            node = self._task(parent, kind, d)
            if node.state not in (PENDING, COMPLETED) and not self.children(parent):
                raise self.fail(f"parent {parent} is {node.state}: a task being worked on cannot get subtasks",
                                kind, d)
        self.tasks[d["id"]] = MTask(parent, d.get("priority", "medium"), d.get("effort", 1.0),
                                    tuple(d.get("capabilities", ())), added=self.seq)

    def _on_task_edited(self, kind: str, d: dict[str, Any]) -> None:
        node = self._task(d["id"], kind, d)
        for name in ("priority", "effort", "capabilities"):
            if d.get(name) is not None:
                setattr(node, name, tuple(d[name]) if name == "capabilities" else d[name])

    def _on_task_moved(self, kind: str, d: dict[str, Any]) -> None:
        node = self._task(d["id"], kind, d)
        parent = d.get("parent")
        if parent is not None:
            container = self._task(parent, kind, d)
            if d["id"] in self.line(parent):
                raise self.fail("moved under itself", kind, d)
            if container.state not in (PENDING, COMPLETED) and not self.children(parent):
                raise self.fail(f"parent {parent} is {container.state}: a task being worked on cannot get "
                                "subtasks", kind, d)
        node.parent = parent

    def _on_dependency_added(self, kind: str, d: dict[str, Any]) -> None:
        node = self._task(d["task"], kind, d)
        self._task(d["depends_on"], kind, d)
        node.deps.add(d["depends_on"])

    def _on_dependency_removed(self, kind: str, d: dict[str, Any]) -> None:
        node = self._task(d["task"], kind, d)
        if d["depends_on"] not in node.deps:
            raise self.fail("removes a dependency that is not there", kind, d)
        node.deps.discard(d["depends_on"])

    def _on_task_state_changed(self, kind: str, d: dict[str, Any]) -> None:
        task, node = d["id"], self._task(d["id"], kind, d)
        before, after = d["from_state"], d["to_state"]
        if node.state != before:
            raise self.fail(f"the task is {node.state}, not {before}", kind, d)
        if after not in LEGAL[before]:
            raise self.fail(f"{before} -> {after} is not in the state table", kind, d)
        if self.children(task):
            raise self.fail("a container's state rolls up; it is never set", kind, d)
        if after in STARTED and not self.can_start(task):
            waiting = sorted(t for t in self.waits_on(task) if not self.is_done(t))
            raise self.fail(f"started while waiting on {waiting}", kind, d)
        node.state = after

    def _on_task_checkpointed(self, kind: str, d: dict[str, Any]) -> None:
        self._task(d["id"], kind, d).checkpoint = d.get("notes", "")

    def _on_agent_registered(self, kind: str, d: dict[str, Any]) -> None:
        agent = self.agents.get(d["agent"])
        if agent is None:
            self.agents[d["agent"]] = MAgent(d.get("capacity", 1), frozenset(d.get("capabilities", ())), d["at"])
            return
        if len(agent.held) > d.get("capacity", 1):
            raise self.fail(f"capacity lowered below the {len(agent.held)} tasks held", kind, d)
        agent.capacity, agent.capabilities = d.get("capacity", 1), frozenset(d.get("capabilities", ()))
        agent.active, agent.last_seen = True, max(agent.last_seen, d["at"])

    def _on_agent_deregistered(self, kind: str, d: dict[str, Any]) -> None:
        agent = self.agents.get(d["agent"])
        if agent is None or not agent.active:
            raise self.fail("deregisters an agent that is not registered", kind, d)
        if agent.held:
            raise self.fail(f"deregistered while holding {sorted(agent.held)}", kind, d)
        agent.active = False

    def _on_agent_heartbeat(self, kind: str, d: dict[str, Any]) -> None:
        agent = self.agents[d["agent"]]
        agent.last_seen = max(agent.last_seen, d["at"])

    def _on_task_assigned(self, kind: str, d: dict[str, Any]) -> None:
        task = d["id"]
        node = self._task(task, kind, d)
        if task in self.leases:
            raise self.fail(f"already leased to {self.leases[task].agent} (token {self.leases[task].token}): "
                            "two live leases", kind, d)
        if d["token"] <= self.last_token:
            raise self.fail(f"token {d['token']} does not increase (last {self.last_token})", kind, d)
        agent = self.agents.get(d["agent"])
        if agent is None or not agent.active:
            raise self.fail("leased to an agent that is not registered", kind, d)
        if len(agent.held) >= agent.capacity:
            raise self.fail(f"{d['agent']} is full ({agent.capacity})", kind, d)
        if node.state != ASSIGNED:
            raise self.fail(f"leased while {node.state}, not assigned", kind, d)
        if d["attempt"] != self.attempts.get(task, 0) + 1:
            raise self.fail(f"attempt {d['attempt']} after {self.attempts.get(task, 0)}", kind, d)
        self.leases[task] = MLease(d["agent"], d["token"], d["expires_at"], d["at"], d["attempt"])
        self.attempts[task] = d["attempt"]
        self.last_token = d["token"]
        agent.held.add(task)
        agent.last_seen = max(agent.last_seen, d["at"])

    def _on_lease_renewed(self, kind: str, d: dict[str, Any]) -> None:
        lease = self._live_lease(kind, d)
        lease.expires_at, lease.renewed_at = d["expires_at"], d["at"]
        agent = self.agents[lease.agent]
        agent.last_seen = max(agent.last_seen, d["at"])

    def _end_lease(self, kind: str, d: dict[str, Any]) -> None:
        lease = self._live_lease(kind, d)
        del self.leases[d["id"]]
        self.agents[lease.agent].held.discard(d["id"])

    _on_lease_released = _end_lease
    _on_lease_expired = _end_lease

    # -- comparing with the engine ----------------------------------------------
    def view(self) -> dict[str, Any]:
        """The facts in a form the engine's state can be put into (see ``engine_view``)."""
        return {
            "tasks": {t: (n.parent, sorted(n.deps), n.state if not self.children(t) else None, self.is_done(t),
                          n.checkpoint) for t, n in self.tasks.items()},
            "ready": self.ready(),
            "leases": {t: (lease.agent, lease.token, lease.attempt) for t, lease in self.leases.items()},
            "agents": {a: (x.active, x.capacity, sorted(x.held)) for a, x in self.agents.items()},
            "mode": self.mode,
            "last_token": self.last_token,
        }


def engine_view(graph: Any) -> dict[str, Any]:
    """:meth:`Model.view` of a :class:`projections.graph.TaskGraph`."""
    children = graph.index.children
    board = graph.agents
    return {
        "tasks": {t: (n.parent, sorted(graph.index.depends_on[t]), str(n.state) if not children[t] else None, n.done,
                      n.checkpoint["notes"] if n.checkpoint else None) for t, n in graph.tasks.items()},
        "ready": sorted(graph.ready_ids()),
        "leases": {t: (lease.agent, lease.token, lease.attempt) for t, lease in board.leases.items()},
        "agents": {a: (x.active, x.capacity, sorted(x.held)) for a, x in board.agents.items()},
        "mode": graph.mode,
        "last_token": board.last_token,
    }

