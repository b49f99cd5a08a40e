"""The results of the MCP tools that are not a service result as it is (those are in
:mod:`planner.service.schema`). They become the tools' output schemas."""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict  # (pydantic reads typing.TypedDict only from Python 3.12)

from planner.service.schema import AgentView, AnalysisFigures, Checkpoint, Lease, Status, TaskView


class SessionStatus(Status):
    """The project in numbers, and who is asking."""

    agent: str  # the name this session claims as
    you: AgentView | None  # that agent as the project sees it (its leases, with tokens); None before it registers


class Claimed(TypedDict):
    """What ``claim_task`` got: a task under a lease, or nothing (``claimed`` false, with why)."""

    claimed: bool
    message: str
    task: NotRequired[TaskView]
    token: NotRequired[int]
    expires_at: NotRequired[float]
    expires_in: NotRequired[float]
    attempt: NotRequired[int]
    resume_from: NotRequired[Checkpoint | None]


class Checkpointed(TypedDict):
    """A checkpoint saved, and the lease it renewed (None when the task is not leased)."""

    checkpoint: Checkpoint
    lease: Lease | None


class AnalysisView(AnalysisFigures):
    """:class:`planner.service.schema.Analysis`, with the parallel levels as widths (the full
    levels name every task: asked for with ``levels``)."""

    level_widths: list[int]
    levels: NotRequired[list[list[str]]]
