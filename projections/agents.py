"""The agent board: who is registered, who holds which task under which lease.

Folded from the agent and lease events (see :mod:`planner.domain.events`), like the
task graph, and part of it (``TaskGraph.agents``). Facts only: nothing here is
recomputed, so a snapshot stores it as it is.

Expiry is a question about time, which a projection never reads: the board
keeps its leases in a ``SortedList`` by expiry instant, and its agents by the
last instant they were heard from, so that :meth:`AgentBoard.due` answers
"what has run out at ``now``" in O(log n + answer) for whoever asks with a
clock (the engine, before every command).

Costs per event: O(log n) (a sorted-list update), O(1) otherwise.
"""

from __future__ import annotations

from typing import Any

from sortedcontainers import SortedList


class Agent:
    __slots__ = ("id", "kind", "capabilities", "capacity", "registered_at", "last_seen", "active", "held")

    def __init__(self, agent: str, kind: str, capabilities: tuple[str, ...], capacity: int, at: float):
        self.id, self.kind, self.capacity = agent, kind, capacity
        self.capabilities = frozenset(capabilities)
        self.registered_at = self.last_seen = at
        self.active = True
        self.held: set[str] = set()  # tasks it holds leases on

    def can_do(self, needs: tuple[str, ...]) -> bool:
        return self.capabilities.issuperset(needs)

    @property
    def free(self) -> int:
        return self.capacity - len(self.held) if self.active else 0


class Lease:
    __slots__ = ("task", "agent", "token", "expires_at", "attempt", "renewed_at")

    def __init__(self, task: str, agent: str, token: int, expires_at: float, attempt: int, at: float):
        self.task, self.agent, self.token, self.expires_at, self.attempt = task, agent, token, expires_at, attempt
        self.renewed_at = at  # when it was granted or last renewed: renewals are written at most every ttl/2

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class AgentBoard:
    """See the module docstring."""

    def __init__(self) -> None:
        self.agents: dict[str, Agent] = {}
        self.leases: dict[str, Lease] = {}  # task -> its live lease
        self.attempts: dict[str, int] = {}  # task -> how many times it was claimed
        self.last_token = 0  # fencing tokens only ever increase
        self._by_expiry: SortedList = SortedList()  # (expires_at, task)
        self._by_silence: SortedList = SortedList()  # (last_seen, agent), active agents holding leases

    # -- queries -----------------------------------------------------------
    def due(self, now: float, ttl: float) -> list[tuple[Lease, str]]:
        """Leases that have run out at ``now``: expired, or held by an agent not heard from
        for ``ttl``; each with the reason. O(log n + answer), tasks in a stable order."""
        found: dict[str, str] = {}
        for expires_at, task in self._by_expiry.irange(maximum=(now, "\U0010ffff")):
            found[task] = f"not renewed: expired at {expires_at:.3f}"
        for last_seen, agent in self._by_silence.irange(maximum=(now - ttl, "\U0010ffff")):
            for task in sorted(self.agents[agent].held):
                found.setdefault(task, f"agent {agent} silent since {last_seen:.3f}")
        return [(self.leases[task], why) for task, why in sorted(found.items())]

    def next_due(self, ttl: float) -> float:
        """The earliest instant at which something could run out (inf: nothing leased)."""
        first = self._by_expiry[0][0] if self._by_expiry else float("inf")
        silent = self._by_silence[0][0] + ttl if self._by_silence else float("inf")
        return min(first, silent)

    # -- evolve --------------------------------------------------------------
    def registered(self, e: Any) -> None:
        agent = self.agents.get(e.agent)
        if agent is None:
            self.agents[e.agent] = Agent(e.agent, e.kind, e.capabilities, e.capacity, e.at)
            return
        self._quiet(agent)
        agent.kind, agent.capabilities, agent.capacity = e.kind, frozenset(e.capabilities), e.capacity
        agent.active, agent.last_seen = True, max(agent.last_seen, e.at)
        self._loud(agent)

    def deregistered(self, e: Any) -> None:
        agent = self.agents[e.agent]
        self._quiet(agent)
        agent.active = False

    def heard(self, agent_id: str, at: float) -> None:
        agent = self.agents[agent_id]
        if at > agent.last_seen:
            self._quiet(agent)
            agent.last_seen = at
            self._loud(agent)

    def assigned(self, e: Any) -> None:
        lease = Lease(e.id, e.agent, e.token, e.expires_at, e.attempt, e.at)
        self.leases[e.id] = lease
        self.attempts[e.id] = e.attempt
        self.last_token = max(self.last_token, e.token)
        self._by_expiry.add((lease.expires_at, e.id))
        agent = self.agents[e.agent]
        self._quiet(agent)
        agent.held.add(e.id)
        agent.last_seen = max(agent.last_seen, e.at)
        self._loud(agent)

    def renewed(self, e: Any) -> None:
        lease = self.leases[e.id]
        self._by_expiry.remove((lease.expires_at, e.id))
        lease.expires_at, lease.renewed_at = e.expires_at, e.at
        self._by_expiry.add((lease.expires_at, e.id))
        self.heard(lease.agent, e.at)

    def ended(self, task: str) -> None:
        """The lease on ``task`` is over (released or expired)."""
        lease = self.leases.pop(task)
        self._by_expiry.remove((lease.expires_at, task))
        agent = self.agents[lease.agent]
        self._quiet(agent)
        agent.held.discard(task)
        self._loud(agent)

    def _quiet(self, agent: Agent) -> None:
        self._by_silence.discard((agent.last_seen, agent.id))

    def _loud(self, agent: Agent) -> None:
        if agent.active and agent.held:
            self._by_silence.add((agent.last_seen, agent.id))

    # -- snapshots and checks ------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain sorted data (snapshots, and comparing a replay with the live state)."""
        return {
            "agents": [[a.id, a.kind, sorted(a.capabilities), a.capacity, a.registered_at, a.last_seen, a.active]
                       for a in sorted(self.agents.values(), key=lambda a: a.id)],
            "leases": [[lease.task, lease.agent, lease.token, lease.expires_at, lease.attempt, lease.renewed_at]
                       for lease in sorted(self.leases.values(), key=lambda lease: lease.task)],
            "attempts": dict(sorted(self.attempts.items())),
            "last_token": self.last_token,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentBoard:
        board = cls()
        for agent_id, kind, capabilities, capacity, registered_at, last_seen, active in data["agents"]:
            agent = Agent(agent_id, kind, tuple(capabilities), capacity, registered_at)
            agent.last_seen, agent.active = last_seen, active
            board.agents[agent_id] = agent
        for task, agent_id, token, expires_at, attempt, renewed_at in data["leases"]:
            lease = Lease(task, agent_id, token, expires_at, attempt, renewed_at)
            board.leases[task] = lease
            board._by_expiry.add((expires_at, task))
            board.agents[agent_id].held.add(task)
        for agent in board.agents.values():
            board._loud(agent)
        board.attempts = dict(data["attempts"])
        board.last_token = data["last_token"]
        return board
