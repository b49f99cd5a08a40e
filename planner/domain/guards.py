"""Checks that several rules share (single commands and batches): pure reads of the graph."""

from __future__ import annotations

from planner.domain.errors import DomainError, UnknownTask
from projections.graph import TaskGraph
from projections.states import DONE, TaskState


def task_node(graph: TaskGraph, task: str, role: str = "task"):
    node = graph.tasks.get(task)
    if node is None:
        raise UnknownTask(task, role)
    return node


def depth(graph: TaskGraph, task: str | None) -> int:
    """Levels from the top down to ``task`` (a top-level task is at depth 1; None is 0)."""
    return 0 if task is None else len(graph.index.line(task))


def height(graph: TaskGraph, task: str) -> int:
    """Levels in ``task``'s subtree, itself included."""
    children = graph.index.children[task]
    return 1 + max((height(graph, c) for c in children), default=0)


def check_can_contain(graph: TaskGraph, parent: str) -> None:
    """A leaf someone is working on cannot become a container (its work would vanish)."""
    node = task_node(graph, parent, "parent")
    if node.state not in (TaskState.PENDING, *DONE) and not graph.index.children[parent]:
        raise DomainError(
            f"{parent} is {node.state}: a task being worked on cannot become a container; "
            "finish or release it first, or put the task elsewhere"
        )
