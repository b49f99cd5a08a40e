"""The one schema of the service's results: what the CLI's ``--json``, and later HTTP and MCP, speak.

Each result is plain JSON-ready data (dicts, lists, strings, numbers) described here as a
``TypedDict``: free to build on the hot path (no validation, no pydantic import when a
query runs), and checkable when it matters: ``tests/planner/test_service.py`` validates
every call's result against these types with pydantic (extra keys forbidden), and
:func:`json_schema` gives the JSON Schema of any of them (for OpenAPI and MCP tools).
Times are seconds since the epoch (floats) unless a field says ``ts`` (ISO 8601, UTC).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict  # (pydantic reads typing.TypedDict only from Python 3.12)


class Lease(TypedDict):
    """A task held by an agent under a lease (the fencing token goes with every command on it)."""

    task: str
    agent: str
    token: int
    expires_at: float  # seconds since the epoch
    expires: str  # the same, as ISO 8601 UTC
    attempt: int
    renewed_at: float


class LeaseShown(Lease, total=False):
    expires_in: float  # seconds left, when the view was given a ``now``


class Checkpoint(TypedDict):
    seq: int  # of the event that saved it
    notes: str
    data: dict[str, Any]
    by: str | None


class TaskView(TypedDict):
    """One task: its facts, derived state, dependencies, checkpoint and lease."""

    id: str
    title: str
    description: str
    parent: str | None
    children: list[str]
    priority: str
    effort: float
    capabilities: list[str]
    metadata: dict[str, Any]
    verify_command: str | None
    state: str
    ready: bool
    done: bool
    depends_on: list[str]
    dependents: list[str]
    checkpoint: Checkpoint | None
    lease: Lease | None
    attempts: int


class ReadyTask(TypedDict):
    """A ready task, with what an agent needs to choose (best first in a list)."""

    id: str
    title: str
    priority: str
    effort: float
    weight: float  # critical-path weight: the effort of the longest chain from its start to the end
    capabilities: list[str]
    parent: str | None


class Progress(TypedDict):
    completed: int
    leaves: int
    fraction: float


class Status(TypedDict):
    project: str | None
    mode: str
    seq: int
    tasks: int
    max_depth: int
    lease_ttl: float
    max_attempts: int
    leaves_by_state: dict[str, int]
    ready: int
    held: int
    progress: Progress


class AgentView(TypedDict, total=False):
    id: str
    kind: str
    capabilities: list[str]
    capacity: int
    active: bool
    last_seen: float
    leases: list[LeaseShown]
    effort_held: float
    health: str  # alive, silent for N s, deregistered (when the view was given a ``now``)


class TreeNode(TypedDict):
    id: str
    title: str
    state: str
    done: bool
    ready: bool
    children: list[TreeNode]
    hidden_children: int  # children below the depth asked for


class EventView(TypedDict):
    """One record of the log, with a few words on what it did."""

    seq: int
    ts: str
    type: str
    cmd: str | None
    data: dict[str, Any]
    text: str


class Expiry(TypedDict):
    task: str
    token: int
    agent: str
    reason: str


class AnalysisFigures(TypedDict):
    """:class:`Analysis` without its parallel levels (which name every task)."""

    tasks: int
    leaves: int
    total_effort: float
    max_depth: int
    critical_path: list[str]
    critical_path_effort: float
    bottlenecks: list[dict[str, Any]]
    capabilities: dict[str, int]
    remaining_effort: float
    progress: float


class Analysis(AnalysisFigures):
    levels: list[list[str]]


class Replay(TypedDict, total=False):
    seq: int
    tasks: int
    ready: int
    seconds: float
    events_per_second: int | None
    verified: bool
    differences: list[str]


class Outlook(TypedDict):
    """What an idle agent checks before it asks for work."""

    mode: str
    next_expiry: float | None
    fits: bool
    held: int


class Added(TypedDict):
    id: str


def json_schema(kind: Any) -> dict[str, Any]:
    """The JSON Schema of one of the types above (imports pydantic: not for the hot path)."""
    from pydantic import TypeAdapter

    return TypeAdapter(kind).json_schema()
