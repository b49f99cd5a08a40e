"""Event and command schemas of the planner (pydantic v2). A leaf: imports nothing of ours.

Events are facts, in the past tense, stored in the log as ``{"type", "data"}``;
commands are requests that the planner's ``decide`` turns into events or
refuses. Every event model carries a schema version ``v``; an old record is
brought up to date by the chain of :data:`UPCASTERS` before validation, so
old logs stay readable when a schema changes::

    event = parse_event(record.type, record.data)   # upcast, then validate
    log_event = encode_event(event)                  # {"type": ..., "data": {...}}

Cost: validating an event is about 1-2 µs (pydantic-core); encoding writes
only non-default fields, plus ``v`` always (a missing ``v`` would otherwise be
read as the *current* version after a schema change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from projections.states import PRIORITY_RANK, TaskState  # noqa: F401 - re-exported: part of the schema

#: Readable, stable ids: letters, digits and ``. _ : -``, starting with a
#: letter or digit, at most 128 characters (safe in file names, URLs, shells).
TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Capability = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Priority = Literal["low", "medium", "high", "critical"]
Mode = Literal["planning", "working"]


class _Model(BaseModel):
    # defer_build: a model's validator is built on its first use, not at import: a CLI process
    # that runs one command builds the few models it uses (building all ~40 took ~60 ms of
    # each `planner set`, measured with cProfile), a long-running process builds each once
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# -- events --------------------------------------------------------------------
class _Event(_Model):
    v: int = 1


Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: an instant, as seconds since the epoch (UTC); decided by the engine, never read in a replay
Instant = Annotated[float, Field(ge=0, allow_inf_nan=False)]
AgentId = TaskId  # the same readable, file-name-safe shape
AgentKind = Literal["ai", "human"]


class ProjectCreated(_Event):
    type: Literal["project.created"] = "project.created"
    name: Name
    description: str = ""
    mode: Mode = "planning"
    max_depth: Annotated[int, Field(ge=1, le=64)] = 8
    lease_ttl: Seconds = 300.0  # a lease not renewed, or an agent not heard from, for this long expires
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 3  # claims of a task before it is failed for good


class TaskAdded(_Event):
    type: Literal["task.added"] = "task.added"
    id: TaskId
    title: Name
    description: str = ""
    parent: TaskId | None = None
    priority: Priority = "medium"
    effort: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    capabilities: tuple[Capability, ...] = ()
    metadata: dict[str, Any] = {}
    verify_command: str | None = None  # how to check the work is done, if there is a way


class _Edits(_Model):
    """The editable fields of a task: only those given change; ``None`` means "unchanged"."""

    title: Name | None = None
    description: str | None = None
    priority: Priority | None = None
    effort: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    capabilities: tuple[Capability, ...] | None = None
    metadata: dict[str, Any] | None = None
    verify_command: str | None = None


class TaskEdited(_Event, _Edits):
    type: Literal["task.edited"] = "task.edited"
    id: TaskId


class TaskMoved(_Event):
    type: Literal["task.moved"] = "task.moved"
    id: TaskId
    parent: TaskId | None  # None: to the top level


class DependencyAdded(_Event):
    type: Literal["dependency.added"] = "dependency.added"
    task: TaskId
    depends_on: TaskId


class DependencyRemoved(_Event):
    type: Literal["dependency.removed"] = "dependency.removed"
    task: TaskId
    depends_on: TaskId


class TaskStateChanged(_Event):
    """Every state change; ``from_state`` makes a replay checkable against the table."""

    type: Literal["task.state_changed"] = "task.state_changed"
    id: TaskId
    from_state: TaskState
    to_state: TaskState
    reason: str | None = None
    by: str | None = None  # the agent or person who made the change


class ModeChanged(_Event):
    type: Literal["project.mode_changed"] = "project.mode_changed"
    mode: Mode
    reason: str | None = None


class CheckpointRecorded(_Event):
    """Notes or data saved mid-task, so whoever picks the task up next can resume."""

    type: Literal["task.checkpointed"] = "task.checkpointed"
    id: TaskId
    notes: str = ""
    data: dict[str, Any] = {}
    by: str | None = None


class TasksImported(_Event):
    """Closes a batch of tasks added from elsewhere (a file, a decomposer): where from,
    how many, and what was left out and why (``--skip-invalid``), for the audit trail."""

    type: Literal["project.imported"] = "project.imported"
    source: str
    tasks: int
    dropped: tuple[dict[str, str], ...] = ()  # {"where": JSON path or file:line, "problem": ...}


# -- agents and leases ------------------------------------------------------------
class AgentRegistered(_Event):
    type: Literal["agent.registered"] = "agent.registered"
    agent: AgentId
    kind: AgentKind = "ai"
    capabilities: tuple[Capability, ...] = ()
    capacity: Annotated[int, Field(ge=1, le=10_000)] = 1  # tasks held at once
    at: Instant


class AgentDeregistered(_Event):
    type: Literal["agent.deregistered"] = "agent.deregistered"
    agent: AgentId
    reason: str | None = None


class AgentHeartbeat(_Event):
    """The agent was heard from (written at most once per half lease TTL per agent)."""

    type: Literal["agent.heartbeat"] = "agent.heartbeat"
    agent: AgentId
    at: Instant


class TaskAssigned(_Event):
    """A lease: ``agent`` holds ``id`` until ``expires_at`` unless renewed. Follows the
    task's state change to ``assigned``. ``token`` only ever increases in a project
    (fencing: a later command must present it)."""

    type: Literal["task.assigned"] = "task.assigned"
    id: TaskId
    agent: AgentId
    token: Annotated[int, Field(ge=1)]
    expires_at: Instant
    attempt: Annotated[int, Field(ge=1)]
    at: Instant  # when it was granted (the agent was heard from then)


class LeaseRenewed(_Event):
    type: Literal["lease.renewed"] = "lease.renewed"
    id: TaskId
    token: Annotated[int, Field(ge=1)]
    expires_at: Instant
    at: Instant


class LeaseReleased(_Event):
    """The holder let go (finished, failed, or gave the task back); a state change goes with it."""

    type: Literal["lease.released"] = "lease.released"
    id: TaskId
    token: Annotated[int, Field(ge=1)]
    reason: str | None = None


class LeaseExpired(_Event):
    """Noticed by whichever writer saw the lease run out (or its agent fall silent); the
    task's state change back to pending (or to failed, out of attempts) goes with it."""

    type: Literal["lease.expired"] = "lease.expired"
    id: TaskId
    token: Annotated[int, Field(ge=1)]
    agent: AgentId
    reason: str


Event = Annotated[
    ProjectCreated
    | TaskAdded
    | TaskEdited
    | TaskMoved
    | DependencyAdded
    | DependencyRemoved
    | TaskStateChanged
    | ModeChanged
    | CheckpointRecorded
    | TasksImported
    | AgentRegistered
    | AgentDeregistered
    | AgentHeartbeat
    | TaskAssigned
    | LeaseRenewed
    | LeaseReleased
    | LeaseExpired,
    Field(discriminator="type"),
]
EVENT_MODELS: dict[str, type[_Event]] = {
    model.model_fields["type"].default: model
    for model in (ProjectCreated, TaskAdded, TaskEdited, TaskMoved, DependencyAdded,
                  DependencyRemoved, TaskStateChanged, ModeChanged, CheckpointRecorded, TasksImported,
                  AgentRegistered, AgentDeregistered, AgentHeartbeat, TaskAssigned, LeaseRenewed, LeaseReleased,
                  LeaseExpired)
}
#: the version each event type is written at today
CURRENT_VERSION: dict[str, int] = {name: model.model_fields["v"].default for name, model in EVENT_MODELS.items()}

#: ``(type, version) -> function(data) -> data at version + 1``. When a schema
#: changes, bump its ``v`` default and register the step from the old version.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


class UnknownEventError(ValueError):
    """A record's type is not a planner event, or its version is from the future."""


def parse_event(event_type: str, data: dict[str, Any]) -> Event:
    """Upcast ``data`` to the current schema of ``event_type`` and validate it.

    Raises :class:`UnknownEventError` for an unknown type or a version newer
    than this code, and ``pydantic.ValidationError`` for invalid data.
    """
    current = CURRENT_VERSION.get(event_type)
    if current is None:
        raise UnknownEventError(f"unknown event type {event_type!r}")
    version = data.get("v", 1)
    if not isinstance(version, int) or version > current:
        raise UnknownEventError(
            f"{event_type} event of schema version {version!r} is newer than this code ({current}): upgrade"
        )
    while version < current:
        data = {**UPCASTERS[(event_type, version)](data), "v": version + 1}
        version += 1
    return EVENT_MODELS[event_type].model_validate({**data, "type": event_type})  # (what the union's discriminator picks)


def encode_event(event: _Event) -> dict[str, Any]:
    """The log form of ``event``: ``{"type", "data"}`` with only non-default fields and ``v``."""
    data = event.model_dump(mode="json", exclude_defaults=True, exclude={"type"})
    data["v"] = event.v
    return {"type": event.type, "data": data}


# -- commands ------------------------------------------------------------------
class _Command(_Model):
    #: idempotency key: a retried command with the same id is applied once
    command_id: str | None = None


class AddTask(_Command):
    id: TaskId | None = None  # generated when absent
    title: Name
    description: str = ""
    parent: TaskId | None = None
    depends_on: tuple[TaskId, ...] = ()
    priority: Priority = "medium"
    effort: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    capabilities: tuple[Capability, ...] = ()
    metadata: dict[str, Any] = {}
    verify_command: str | None = None


class EditTask(_Command, _Edits):
    id: TaskId


class MoveTask(_Command):
    id: TaskId
    parent: TaskId | None


class AddDependency(_Command):
    task: TaskId
    depends_on: TaskId


class RemoveDependency(_Command):
    task: TaskId
    depends_on: TaskId


class _Timed(_Command):
    """A command whose outcome depends on the time: the engine sets ``now`` from its
    clock before deciding (callers leave it None), so ``decide`` stays pure."""

    now: Instant | None = None


class Transition(_Timed):
    id: TaskId
    to_state: TaskState
    reason: str | None = None
    by: str | None = None
    token: int | None = None  # the lease's, when the task is leased: fencing


class SetMode(_Command):
    mode: Mode
    reason: str | None = None


class RecordCheckpoint(_Timed):
    id: TaskId
    notes: str = ""
    data: dict[str, Any] = {}
    by: str | None = None
    token: int | None = None  # the lease's, when the task is leased


class RegisterAgent(_Timed):
    agent: AgentId
    kind: AgentKind = "ai"
    capabilities: tuple[Capability, ...] = ()
    capacity: Annotated[int, Field(ge=1, le=10_000)] = 1


class DeregisterAgent(_Timed):
    agent: AgentId
    reason: str | None = None


class Heartbeat(_Timed):
    agent: AgentId


class Claim(_Timed):
    """The best ready task ``agent`` can do (or ``task``), under a new lease."""

    agent: AgentId
    task: TaskId | None = None
    ttl: Seconds | None = None  # the project's lease_ttl when None


class Renew(_Timed):
    id: TaskId
    token: int
    ttl: Seconds | None = None


class Release(_Timed):
    """Give a leased task back (to pending), keeping its checkpoint."""

    id: TaskId
    token: int
    reason: str | None = None


class Assign(_Timed):
    """One batch handing ready tasks to the available agents (all of them when None)."""

    agents: tuple[AgentId, ...] | None = None
    ttl: Seconds | None = None


class Reap(_Timed):
    """Expire what has run out; nothing else (every command does this first anyway)."""


class TaskSpec(_Model):
    """One task of a batch (:class:`AddTasks`): like :class:`AddTask`, plus the state it is
    in (an imported plan may be under way) and ``where`` it came from, for messages."""

    id: TaskId | None = None  # generated when absent
    title: Name
    description: str = ""
    parent: TaskId | None = None  # a task of the batch or of the project
    depends_on: tuple[TaskId, ...] = ()  # tasks of the batch or of the project
    priority: Priority = "medium"
    effort: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    capabilities: tuple[Capability, ...] = ()
    metadata: dict[str, Any] = {}
    verify_command: str | None = None
    state: TaskState = TaskState.PENDING
    where: str | None = None  # "tasks[3]", "plan.md:12": how messages point at it


class AddTasks(_Command):
    """Add many tasks at once, all or nothing (or, with ``skip_invalid``, all the valid
    ones): an import, a decomposition. ``problems`` are those found before deciding
    (schema errors), so that every problem is reported together."""

    tasks: tuple[TaskSpec, ...]
    source: str | None = None  # recorded in a TasksImported event when given
    skip_invalid: bool = False
    problems: tuple[tuple[str, str], ...] = ()  # (where, what)
    withheld: tuple[str, ...] = ()  # ids of tasks left out before deciding: references to them are problems
    dependencies_key: str = "depends_on"  # the field names the source uses, for the
    state_key: str = "state"  # JSON paths of problems (a fixture says "dependencies", "status")


Command = RegisterAgent | DeregisterAgent | Heartbeat | Claim | Renew | Release | Assign | Reap | AddTask | AddTasks | EditTask | MoveTask | AddDependency | RemoveDependency | Transition | SetMode | RecordCheckpoint
