"""The task state machine: one table that the code, the README and the tests all use.

=============  ===============================================================
from           to (legal)
=============  ===============================================================
pending        assigned, in_progress, blocked, cancelled
assigned       in_progress, pending (lease expired or released), blocked,
               failed, cancelled
in_progress    completed, failed, pending (lease expired; retry), blocked,
               cancelled
blocked        pending, in_progress, failed, cancelled
failed         pending (retry), cancelled
completed      (terminal)
cancelled      (terminal)
=============  ===============================================================

"Ready" and "waiting" are derived, never stored: a *pending* task is ready
when every task it depends on is *done* (:data:`DONE`) and it has no children
(a task with children is a container whose state rolls up from them);
otherwise it is waiting. Starting work (to assigned or in_progress) is legal
only from a task whose dependencies are done: the planner's rules check that guard
(:mod:`planner.domain.transitions` refuses a move outside this table); this table
only says which moves exist.

The vocabulary that both the projections and the planner's rules need lives here,
at the bottom of the stack: a leaf that imports nothing of ours (and not pydantic,
so that a query answered from a snapshot starts ~70 ms sooner).
"""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    """Stored states. "ready" and "waiting" are derived (see the table above)."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: order of the ready queue: higher first
PRIORITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}



P, A, I, B, C, F, X = (  # noqa: E741 - one letter per state keeps the table readable
    TaskState.PENDING, TaskState.ASSIGNED, TaskState.IN_PROGRESS, TaskState.BLOCKED,
    TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED,
)

#: the legal transitions, exactly as in the module docstring
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    P: frozenset({A, I, B, X}),
    A: frozenset({I, P, B, F, X}),
    I: frozenset({C, F, P, B, X}),
    B: frozenset({P, I, F, X}),
    F: frozenset({P, X}),
    C: frozenset(),
    X: frozenset(),
}
#: a dependency in one of these states no longer holds its dependents back
DONE = frozenset({C})
#: no transition leaves these
TERMINAL = frozenset(state for state, targets in TRANSITIONS.items() if not targets)
#: states in which an agent holds the task (a lease, from the agents issue on)
WORKING = frozenset({A, I})


def is_legal(current: TaskState, target: TaskState) -> bool:
    """Whether ``current -> target`` is in the table. O(1)."""
    return target in TRANSITIONS[current]
