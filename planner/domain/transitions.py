"""The guard on the state table: a move outside :data:`projections.states.TRANSITIONS` is refused."""

from __future__ import annotations

from planner.domain.errors import DomainError
from projections.states import TRANSITIONS, TaskState


class IllegalTransition(DomainError):
    """A transition that is not in :data:`~projections.states.TRANSITIONS`; the message names the legal ones."""

    def __init__(self, task: str, current: TaskState, target: TaskState):
        self.task, self.current, self.target = task, current, target
        allowed = sorted(TRANSITIONS[current])
        options = ", ".join(allowed) if allowed else f"none: {current} is final"
        super().__init__(f"task {task} cannot go from {current} to {target}; from {current} it can go to: {options}")


def check_transition(task: str, current: TaskState, target: TaskState) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table. O(1)."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(task, current, target)
