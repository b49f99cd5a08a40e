"""An open-loop schedule for agent processes, and a fixed-size record of what each operation took.

A closed-loop load generator (send, wait for the answer, send the next) slows
down when the system does: it offers less load exactly when the system is
slow, and its latencies leave out the waiting that late requests would have
had (coordinated omission). Here every operation has a due time fixed in
advance. With ``agents`` processes offering ``rate`` operations per second in
total, operation ``k`` of agent ``index`` is due at::

    t0 + (k + index / agents) / (rate / agents)        # the agents' operations interleave evenly

An agent waits only when it is ahead of its schedule; its latency is measured
from the due time to the acknowledgement, so an operation that starts late
because the agent is still busy with earlier ones counts the wait (queueing),
and its service time from its actual start. ``time.monotonic`` is one clock
for every process on the machine (CLOCK_MONOTONIC), so ``t0`` is shared.

:class:`OpLog` keeps per-operation figures in arrays allocated once, up front,
so that recording them does not grow the agent's memory while a soak measures
it. Costs: O(1) per operation.
"""

from __future__ import annotations

import math
import time
from array import array
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Schedule:
    """The due times of one agent's operations, in seconds after ``t0``."""

    rate: float  # operations per second, all agents together
    agents: int
    index: int

    @property
    def period(self) -> float:
        return self.agents / self.rate

    def due(self, k: int) -> float:
        return (k + self.index / self.agents) * self.period

    def groups_before(self, horizon: float, size: int) -> int:
        """How many groups of ``size`` consecutive operations (a claim-start-complete cycle) have
        their first operation due before ``horizon``: the groups offered in a window."""
        first = self.index / self.agents * self.period
        if horizon <= first:
            return 0
        return math.ceil((horizon - first) / (size * self.period))


def offered_groups(rate: float, agents: int, horizon: float, size: int) -> int:
    """The groups all agents are offered in a window of ``horizon`` seconds."""
    return sum(Schedule(rate, agents, i).groups_before(horizon, size) for i in range(agents))


def wait_until(deadline: float) -> None:
    """Wait for the next due time (``time.monotonic`` seconds); at once when it has passed."""
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


class OpLog:
    """Per operation: kind (a small int), due time (s after t0), latency from the due time and
    service time from the actual start (s). Preallocated for ``capacity`` operations; more are
    counted in ``overflow`` but not kept."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.n = 0
        self.overflow = 0
        self.kind = array("b", bytes(capacity))
        self.due = array("d", bytes(8 * capacity))
        self.latency = array("d", bytes(8 * capacity))
        self.service = array("d", bytes(8 * capacity))

    def add(self, kind: int, due: float, latency: float, service: float) -> None:
        n = self.n
        if n >= self.capacity:
            self.overflow += 1
            return
        self.kind[n], self.due[n], self.latency[n], self.service[n] = kind, due, latency, service
        self.n = n + 1

    def to_json(self) -> dict[str, Any]:
        n = self.n
        return {"kind": self.kind[:n].tolist(), "due": self.due[:n].tolist(), "latency": self.latency[:n].tolist(),
                "service": self.service[:n].tolist(), "overflow": self.overflow}
