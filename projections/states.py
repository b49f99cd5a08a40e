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
only from a task whose dependencies are done: :mod:`planner` checks that guard;
this table only says which moves exist.
"""

from __future__ import annotations

from .errors import DomainError
from .vocabulary import TaskState

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


class IllegalTransition(DomainError):
    """A transition that is not in :data:`TRANSITIONS`; the message names the legal ones."""

    def __init__(self, task: str, current: TaskState, target: TaskState):
        self.task, self.current, self.target = task, current, target
        allowed = sorted(TRANSITIONS[current])
        options = ", ".join(allowed) if allowed else f"none: {current} is final"
        super().__init__(f"task {task} cannot go from {current} to {target}; from {current} it can go to: {options}")


def check_transition(task: str, current: TaskState, target: TaskState) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table. O(1)."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(task, current, target)
