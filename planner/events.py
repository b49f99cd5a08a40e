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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from .vocabulary import PRIORITY_RANK, TaskState  # noqa: F401 - re-exported: part of the schema

#: Readable, stable ids: letters, digits and ``. _ : -``, starting with a
#: letter or digit, at most 128 characters (safe in file names, URLs, shells).
TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Capability = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Priority = Literal["low", "medium", "high", "critical"]
Mode = Literal["planning", "working"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- events --------------------------------------------------------------------
class _Event(_Model):
    v: int = 1


class ProjectCreated(_Event):
    type: Literal["project.created"] = "project.created"
    name: Name
    description: str = ""
    mode: Mode = "planning"
    max_depth: Annotated[int, Field(ge=1, le=64)] = 8


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
    | TasksImported,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_MODELS: dict[str, type[_Event]] = {
    model.model_fields["type"].default: model
    for model in (ProjectCreated, TaskAdded, TaskEdited, TaskMoved, DependencyAdded,
                  DependencyRemoved, TaskStateChanged, ModeChanged, CheckpointRecorded, TasksImported)
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
    return _EVENT_ADAPTER.validate_python({**data, "type": event_type})


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


class Transition(_Command):
    id: TaskId
    to_state: TaskState
    reason: str | None = None
    by: str | None = None


class SetMode(_Command):
    mode: Mode
    reason: str | None = None


class RecordCheckpoint(_Command):
    id: TaskId
    notes: str = ""
    data: dict[str, Any] = {}
    by: str | None = None


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


Command = AddTask | AddTasks | EditTask | MoveTask | AddDependency | RemoveDependency | Transition | SetMode | RecordCheckpoint
