"""The rules for agents and leases: pure, like :mod:`planner.domain.decide`, and run under the log lock.

Time enters only as the ``now`` a command carries (the engine sets it from its
clock), so a replay never consults a clock: an expiry is an event written by
whoever noticed it (:func:`expire`, which the engine runs before every command).

A lease is a fencing token (one counter per project, only ever increasing)
plus an expiry instant. Every command on a leased task must present the
current token (:func:`check_token`); a renewal is written at most once per
half TTL, so heartbeating agents do not flood the log. A task claimed
``max_attempts`` times that fails or expires once more is failed for good and
no longer offered; otherwise it goes back to pending, keeping its checkpoint
and attempt count, so the next agent resumes.

Costs: a claim walks the ready queue best first until a task fits the agent,
O(k) for k tasks skipped (capabilities) plus O(log n) to update it; an
assignment batch of b tasks over a agents is O(r log r + b x a) for the r
ready tasks it looks at; expiry is O(log n) plus what expires.
"""

from __future__ import annotations

from typing import Any

from planner.domain import events as ev
from planner.domain.errors import DomainError, StaleLease, UnknownAgent, UnknownTask
from planner.domain.transitions import check_transition
from projections.graph import TaskGraph

P, A = ev.TaskState.PENDING, ev.TaskState.ASSIGNED


def expire(graph: TaskGraph, now: float) -> list[Any]:
    """The events for every lease that has run out at ``now`` (none: ``[]``)."""
    events: list[Any] = []
    for lease, why in graph.agents.due(now, graph.lease_ttl):
        events += _end(graph, lease, ev.LeaseExpired(id=lease.task, token=lease.token, agent=lease.agent,
                                                      reason=why), retry_reason=f"lease expired ({why})")
    return events


def _end(graph: TaskGraph, lease: Any, ending: Any, retry_reason: str, fail: bool = True) -> list[Any]:
    """``ending`` (released or expired) and the task's way back: pending, or failed when
    it has had all its attempts (if ``fail``)."""
    node = graph.tasks[lease.task]
    out_of_attempts = fail and lease.attempt >= graph.max_attempts
    target = ev.TaskState.FAILED if out_of_attempts else P
    reason = retry_reason + (f"; failed for good after {lease.attempt} attempts" if out_of_attempts else
                             f"; back to pending (attempt {lease.attempt} of {graph.max_attempts})")
    events = [ending]
    if node.state != target:
        check_transition(lease.task, node.state, target)
        events.append(ev.TaskStateChanged(id=lease.task, from_state=node.state, to_state=target, reason=reason,
                                          by=lease.agent))
    return events


def _agent(graph: TaskGraph, agent: str, active: bool = True) -> Any:
    found = graph.agents.agents.get(agent)
    if found is None or (active and not found.active):
        raise UnknownAgent(agent)
    return found


def check_token(graph: TaskGraph, task: str, token: int | None) -> Any:
    """The live lease on ``task`` if ``token`` is its token; None when the task is not leased
    and no token was given. Raises :class:`StaleLease` otherwise."""
    lease = graph.agents.leases.get(task)
    if lease is None:
        if token is not None:
            raise StaleLease(task, token, None, None)
        return None
    if token != lease.token:
        raise StaleLease(task, token, lease.agent, lease.token)
    return lease


def register(graph: TaskGraph, c: ev.RegisterAgent) -> list[Any]:
    known = graph.agents.agents.get(c.agent)
    if known is not None and len(known.held) > c.capacity:
        raise DomainError(f"{c.agent} holds {len(known.held)} tasks: finish or release some before lowering its "
                          f"capacity to {c.capacity}")
    if (known is not None and known.active and known.kind == c.kind and known.capacity == c.capacity
            and known.capabilities == frozenset(c.capabilities)):
        return []  # registered already, as it is
    return [ev.AgentRegistered(agent=c.agent, kind=c.kind, capabilities=c.capabilities, capacity=c.capacity,
                               at=c.now)]


def deregister(graph: TaskGraph, c: ev.DeregisterAgent) -> list[Any]:
    agent = _agent(graph, c.agent)
    events: list[Any] = []
    for task in sorted(agent.held):  # its tasks go back, without using up an attempt
        lease = graph.agents.leases[task]
        events += _end(graph, lease, ev.LeaseReleased(id=task, token=lease.token, reason="agent deregistered"),
                       retry_reason=f"{c.agent} deregistered", fail=False)
    return [*events, ev.AgentDeregistered(agent=c.agent, reason=c.reason)]


def heartbeat(graph: TaskGraph, c: ev.Heartbeat) -> list[Any]:
    agent = _agent(graph, c.agent)
    if c.now - agent.last_seen < graph.lease_ttl / 2:
        return []  # heard from recently enough: nothing to write
    return [ev.AgentHeartbeat(agent=c.agent, at=c.now)]


def _fits(graph: TaskGraph, agent: Any, task: str) -> bool:
    return agent.can_do(graph.tasks[task].capabilities)


def claim(graph: TaskGraph, c: ev.Claim) -> list[Any]:
    if graph.mode != "working":
        raise DomainError("the project is in planning mode: claims are paused until `planner mode working`")
    agent = _agent(graph, c.agent)
    if agent.free <= 0:
        raise DomainError(f"{c.agent} already holds {len(agent.held)} task(s), its capacity: finish or release one")
    if c.task is not None:
        node = graph.tasks.get(c.task)
        if node is None:
            raise UnknownTask(c.task)
        if not graph.is_ready(node):
            holder = graph.agents.leases.get(c.task)
            why = f"leased to {holder.agent}" if holder else f"{node.state}, not ready"
            raise DomainError(f"{c.task} cannot be claimed: it is {why}")
        if not _fits(graph, agent, c.task):
            missing = sorted(set(node.capabilities) - agent.capabilities)
            raise DomainError(f"{c.agent} lacks {', '.join(missing)}, which {c.task} requires")
        task = c.task
    else:
        graph.refresh_weights()
        task = next((key[-1] for key in graph.ready if _fits(graph, agent, key[-1])), None)
        if task is None:
            return []  # nothing this agent can do now
    return _grant(graph, c.agent, task, c.now, c.ttl or graph.lease_ttl, graph.agents.last_token + 1)


def _grant(graph: TaskGraph, agent: str, task: str, now: float, ttl: float, token: int) -> list[Any]:
    attempt = graph.agents.attempts.get(task, 0) + 1
    return [ev.TaskStateChanged(id=task, from_state=P, to_state=A, reason="claimed", by=agent),
            ev.TaskAssigned(id=task, agent=agent, token=token, expires_at=now + ttl, attempt=attempt, at=now)]


def renew(graph: TaskGraph, c: ev.Renew) -> list[Any]:
    lease = check_token(graph, c.id, c.token)
    if lease is None:
        raise StaleLease(c.id, c.token, None, None)
    ttl = c.ttl or graph.lease_ttl
    if c.now - lease.renewed_at < ttl / 2 and lease.expires_at - c.now > ttl / 2:
        # renewed recently: at most one renewal per half TTL reaches the log. But the agent
        # must not look silent by the project's TTL (shorter than a long lease's): say it is alive
        return heartbeat(graph, ev.Heartbeat(agent=lease.agent, now=c.now))
    return [ev.LeaseRenewed(id=c.id, token=c.token, expires_at=c.now + ttl, at=c.now)]


def release(graph: TaskGraph, c: ev.Release) -> list[Any]:
    lease = check_token(graph, c.id, c.token)
    if lease is None:
        raise StaleLease(c.id, c.token, None, None)
    return _end(graph, lease, ev.LeaseReleased(id=c.id, token=c.token, reason=c.reason or "released"),
                retry_reason=c.reason or f"released by {lease.agent}", fail=False)


def finish(graph: TaskGraph, lease: Any, c: ev.Transition) -> list[Any] | None:
    """A transition on a leased task (token checked): its events, or None when the plain
    rules apply (start, block). Ending states release the lease; a failure with attempts
    left goes back to pending, a retry."""
    if c.to_state in (ev.TaskState.COMPLETED, ev.TaskState.CANCELLED):
        node = graph.tasks[c.id]
        check_transition(c.id, node.state, c.to_state)
        return [ev.TaskStateChanged(id=c.id, from_state=node.state, to_state=c.to_state, reason=c.reason,
                                    by=c.by or lease.agent),
                ev.LeaseReleased(id=c.id, token=lease.token, reason=str(c.to_state))]
    if c.to_state in (ev.TaskState.FAILED, P):
        why = c.reason or ("failed" if c.to_state is ev.TaskState.FAILED else "given back")
        return _end(graph, lease, ev.LeaseReleased(id=c.id, token=lease.token, reason=why), retry_reason=why,
                    fail=c.to_state is ev.TaskState.FAILED)
    return None


def assign(graph: TaskGraph, c: ev.Assign) -> list[Any]:
    """Ready tasks to available agents in one batch: capabilities and capacity respected,
    the highest-ranked ready tasks chosen (priority, then critical-path weight), and the
    chosen ones dealt largest effort first to the least-loaded agent that can take them,
    which keeps every agent's effort close to the mean when the mix allows it."""
    if graph.mode != "working":
        raise DomainError("the project is in planning mode: assignments are paused until `planner mode working`")
    names = sorted(graph.agents.agents) if c.agents is None else list(dict.fromkeys(c.agents))
    agents = [_agent(graph, name) for name in names] if c.agents is not None else \
        [a for a in (graph.agents.agents[n] for n in names) if a.active]
    free = {a.id: a.free for a in agents if a.free > 0}
    if not free:
        return []
    load = {a.id: sum(graph.tasks[t].effort for t in a.held) for a in agents}
    graph.refresh_weights()
    chosen: list[str] = []
    slots = sum(free.values())
    for key in graph.ready:  # best first; keep those some agent could take
        task = key[-1]
        if any(free[a.id] > 0 and _fits(graph, a, task) for a in agents if a.id in free):
            chosen.append(task)
            if len(chosen) == slots:
                break
    rank = {task: i for i, task in enumerate(chosen)}
    events: list[Any] = []
    token = graph.agents.last_token
    ttl = c.ttl or graph.lease_ttl
    granted: set[str] = set()

    def deal(task: str) -> None:
        nonlocal token, events
        able = [a.id for a in agents if free.get(a.id, 0) > 0 and _fits(graph, a, task)]
        if able:  # (else the agents that could take it are full: it stays ready)
            pick = min(able, key=lambda a: (load[a], a))
            token += 1
            events += _grant(graph, pick, task, c.now, ttl, token)
            load[pick] += graph.tasks[task].effort
            free[pick] -= 1
            granted.add(task)

    for task in sorted(chosen, key=lambda t: (-graph.tasks[t].effort, rank[t])):
        deal(task)
    if any(free.values()):  # slots left where the chosen tasks did not fit: fill them in ready order
        for key in graph.ready:
            if key[-1] not in granted:
                deal(key[-1])
                if not any(free.values()):
                    break
    return events
