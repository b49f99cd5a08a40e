"""The spec's multi-agent API (BENCH-002), on top of :class:`planner.Planner`.

::

    coordinator = AgentCoordinator()                   # a fresh home in a temporary directory
    await coordinator.register_agents(agents)          # objects or dicts: id, capabilities, capacity, kind
    assignments = await coordinator.assign_all_tasks(project.tasks)
    assignments["agent-01"].tasks, assignments["agent-01"].effort

Everything goes through the public :class:`~planner.Planner` API, so every
decision is an event in the project's log, checked by the planner's rules
(capabilities, capacity, one live lease per task, dependencies done first).

What :meth:`AgentCoordinator.assign_all_tasks` does
---------------------------------------------------
It is a *simulation*: the coordinator plays the agents, which finish their
work at once. First it imports the tasks the project does not have yet (one
``AddTasks`` batch) and switches the project to working mode. Then, in
rounds, until no pending leaf is left or none can be handed out:

1. it looks at the ready tasks and the agents that could take one of them
   (the capabilities fit, a free slot);
2. of those, the agents with the least effort assigned so far (all of them
   tied at that minimum) get one batch, ``Planner.assign(agents=tier)``: the
   planner picks the highest-ranked ready tasks (priority, then
   critical-path weight) and deals them largest effort first to the least
   loaded of the tier (see :func:`planner.domain.leasing.assign`); if that tier can
   take nothing, the next one is tried;
3. every task granted is then done on its agent's behalf, ``in_progress``
   then ``completed`` with the lease's token, so that the tasks waiting on it
   become ready for the next round.

Guarantees: a leaf is assigned at most once, only when its dependencies are
done, only to an agent with the capabilities, never beyond an agent's
capacity (the planner refuses anything else); the returned
:class:`Assignments` has a share for every active agent; the leaves still
pending when no agent can take any ready task are listed in
``unassigned``. Fairness: each batch goes to the agents furthest behind, so
with capacity-1 agents that can each do every task, after every round the
most loaded agent is at most one task's effort ahead of the least loaded
(greedy list scheduling); capabilities weaken that, and an agent of capacity
``c`` can take ``c`` tasks in one batch (``c`` efforts ahead). Priorities are
honoured round by round: a batch takes the best ready tasks its agents can do.

Costs, for ``L`` leaves handed out in ``R`` rounds (``L / agents <= R <= L``)
over ``a`` agents: ``R + 2L + 2`` durable appends (a batch per round, two
transitions per leaf, the import and the mode switch), and per round
O(ready + distinct capability sets x a) to choose the tier plus the
batch's own cost. Time to the first assignment: the import, the mode switch
and one batch.

The methods are ``async`` because the spec awaits them; the work is
synchronous (CPU and fsyncs, nothing to overlap), so it runs directly on
the event loop's thread, like :class:`planner.spec.spec_api.SuperPlanner`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.domain.errors import DomainError
from planner.engine.engine import Planner
from planner.plans.importing import import_plan, read_fixture
from planner.spec.spec_api import TemporaryHome

_EPSILON = 1e-9  # efforts closer than this are one tier


@dataclass
class AgentShare:
    """What one agent was given: task ids in the order granted, and their total effort."""

    tasks: list[str] = field(default_factory=list)
    effort: float = 0.0

    def add(self, task: str, effort: float) -> None:
        self.tasks.append(task)
        self.effort += effort


class Assignments(dict[str, AgentShare]):
    """Agent id -> :class:`AgentShare`, for every active agent (one given nothing has an
    empty share), plus how the hand-out went:

    * ``batches``: the ``Planner.assign`` batches that granted something;
    * ``batch_seconds``: each such batch's latency (the command, acknowledged durably);
    * ``first_assignment_s``: from the call until the first batch was acknowledged
      (the import and mode switch included); None when nothing was granted;
    * ``unassigned``: leaves still pending at the end (no agent could take them);
    * ``elapsed_s``: the whole call.
    """

    def __init__(self, agents: Iterable[str] = ()):
        super().__init__((agent, AgentShare()) for agent in agents)
        self.batches = 0
        self.batch_seconds: list[float] = []
        self.first_assignment_s: float | None = None
        self.unassigned: list[str] = []
        self.elapsed_s = 0.0

    @property
    def tasks(self) -> int:
        """How many tasks were assigned, over all agents."""
        return sum(len(share.tasks) for share in self.values())

    def efforts(self) -> dict[str, float]:
        return {agent: share.effort for agent, share in self.items()}

    def max_deviation(self) -> float:
        """The largest ``|effort - mean| / mean`` over the agents (0 with no effort at all)."""
        if not self:
            return 0.0
        mean = sum(share.effort for share in self.values()) / len(self)
        return max(abs(share.effort - mean) / mean for share in self.values()) if mean > 0 else 0.0


def _field(agent: Any, name: str, default: Any = None) -> Any:
    if isinstance(agent, Mapping):
        return agent.get(name, default)
    return getattr(agent, name, default)


def _agent_id(agent: Any) -> str:
    for name in ("id", "agent_id", "agent"):
        value = _field(agent, name)
        if value is not None:
            return str(value)
    raise DomainError(f"an agent needs an id (an 'id' key or attribute): got {agent!r}")


def _effort(planner: Planner, task: str) -> float:
    return float(planner.task(task, refresh=False)["effort"])


def _fixture_of(tasks: Any) -> dict[str, Any]:
    """Fixture-format data from a list of fixture task dicts, a fixture dict or a TestProject."""
    if hasattr(tasks, "to_dict"):
        return tasks.to_dict()
    if isinstance(tasks, Mapping):
        return dict(tasks)
    return {"project": {}, "tasks": list(tasks)}


class AgentCoordinator(TemporaryHome):
    """Registers agents and hands a project's work out to them, in one project of a planner
    home (a temporary one, removed on :meth:`close`, unless ``home`` is given).

    ``open_options`` go to :meth:`Planner.open` (``lease_ttl``, ``max_attempts``,
    ``durability``, ...). The project is opened (created if missing) on first use.
    """

    def __init__(self, home: os.PathLike | str | None = None, project: str = "coordination",
                 **open_options: Any):
        super().__init__(home, "superplanner-coord-")
        self.project = project
        self.open_options = open_options
        self._planner: Planner | None = None

    @property
    def planner(self) -> Planner:
        """The project's planner, opened (and created if missing) on first use."""
        if self._planner is None:
            self._planner = Planner.open(self.home, self.project, create=True, **self.open_options)
        return self._planner

    # -- the spec's API ---------------------------------------------------------------
    async def register_agents(self, agents: Iterable[Any]) -> list[str]:
        """Register each agent (an object or dict with ``id``, and optionally
        ``capabilities``, ``capacity`` (1), ``kind`` ("ai")); return their ids.
        One durable command per agent; re-registering an agent as it is writes nothing."""
        planner = self.planner
        ids = []
        for agent in agents:
            agent_id = _agent_id(agent)
            planner.register_agent(agent_id, capabilities=tuple(_field(agent, "capabilities", ()) or ()),
                                   capacity=int(_field(agent, "capacity", 1) or 1),
                                   kind=str(_field(agent, "kind", "ai") or "ai"))
            ids.append(agent_id)
        return ids

    async def add_tasks(self, tasks: Any) -> dict[str, Any] | None:
        """Import the tasks (fixture task dicts, a fixture dict or a TestProject) that the
        project does not have yet, as one batch; return the import report (None when
        there was nothing new). Raises :class:`~planner.domain.errors.InvalidPlanError` on a bad task."""
        data = _fixture_of(tasks)
        planner = self.planner
        known = set(planner.tasks())
        new = [t for t in data.get("tasks", ()) if not (isinstance(t, Mapping) and t.get("id") in known)]
        if not new:
            return None
        plan = read_fixture({**data, "tasks": new}, str((data.get("project") or {}).get("id") or "tasks"))
        plan.expected = None  # the file's expected outcomes describe the whole file, maybe not what is new
        return import_plan(planner, plan)

    async def assign_all_tasks(self, tasks: Any = None) -> Assignments:
        """Import ``tasks`` if needed (see :meth:`add_tasks`), switch to working mode, and
        hand out every pending leaf in rounds as the module docstring describes; return
        what every active agent was given. Costs: see the module docstring."""
        started = time.perf_counter()
        if tasks is not None:
            await self.add_tasks(tasks)
        planner = self.planner
        planner.set_mode("working")
        agents = [a for a in planner.agents() if a["active"]]
        result = Assignments(a["id"] for a in agents)
        while True:
            grants, seconds = self._next_batch(planner, result)
            if not grants:
                break
            result.batches += 1
            result.batch_seconds.append(seconds)
            if result.first_assignment_s is None:
                result.first_assignment_s = time.perf_counter() - started
            for grant in grants:
                result.setdefault(grant.agent, AgentShare()).add(grant.id, _effort(planner, grant.id))
            for grant in grants:  # the agents do the work: what waits on it becomes ready
                planner.transition(grant.id, "in_progress", token=grant.token, by=grant.agent)
                planner.transition(grant.id, "completed", token=grant.token, by=grant.agent)
        result.unassigned = self._pending_leaves(planner)
        result.elapsed_s = time.perf_counter() - started
        return result

    async def assign_batch(self, agents: Iterable[str] | None = None) -> Assignments:
        """One ``Planner.assign`` batch (to ``agents``, default every active agent with a
        free slot), in working mode; the tasks stay with their agents. Returns the batch
        as :class:`Assignments` (shares of this batch only)."""
        planner = self.planner
        planner.set_mode("working")
        started = time.perf_counter()
        grants = planner.assign(agents=None if agents is None else list(agents))
        seconds = time.perf_counter() - started
        result = Assignments(a["id"] for a in planner.agents() if a["active"])
        for grant in grants:
            result.setdefault(grant.agent, AgentShare()).add(grant.id, _effort(planner, grant.id))
        result.batches = 1 if grants else 0
        result.batch_seconds = [seconds] if grants else []
        result.first_assignment_s = result.elapsed_s = seconds
        return result

    # -- the rounds ---------------------------------------------------------------------
    def _next_batch(self, planner: Planner, so_far: Assignments) -> tuple[list[Any], float]:
        """One batch to the least-loaded tier of the agents able to take a ready task:
        (the grants, the batch's latency); ``([], 0.0)`` when nobody can take anything."""
        ready = planner.ready_tasks()
        if not ready:
            return [], 0.0
        needs = {frozenset(t["capabilities"]) for t in ready}
        able = [a for a in planner.agents()
                if a["active"] and a["capacity"] > len(a["leases"])
                and any(need <= frozenset(a["capabilities"]) for need in needs)]
        load = {a["id"]: so_far[a["id"]].effort if a["id"] in so_far else 0.0 for a in able}
        order = sorted(load, key=lambda agent: (load[agent], agent))
        i = 0
        while i < len(order):  # tier by tier, least loaded first
            j = i
            while j < len(order) and load[order[j]] - load[order[i]] <= _EPSILON:
                j += 1
            started = time.perf_counter()
            grants = planner.assign(agents=order[i:j])
            if grants:
                return grants, time.perf_counter() - started
            i = j
        return [], 0.0

    @staticmethod
    def _pending_leaves(planner: Planner) -> list[str]:
        """Leaves still pending (sorted ids). O(tasks)."""
        return [tid for tid in planner.tasks()
                if (task := planner.task(tid, refresh=False))["state"] == "pending" and not task["children"]]

    # -- lifetime (the temporary home: TemporaryHome) -------------------------------------
    def _close_planner(self) -> None:
        if self._planner is not None:
            self._planner.close()
            self._planner = None
