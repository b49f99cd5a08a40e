"""Event schemas: validation, the discriminated union, compact encoding, upcasting."""

import pytest
from pydantic import ValidationError

from planner.domain import events as ev
from planner.domain.events import (
    EVENT_MODELS,
    AddTask,
    DependencyAdded,
    TaskAdded,
    TaskState,
    TaskStateChanged,
    UnknownEventError,
    encode_event,
    parse_event,
)

EXAMPLES = [
    ev.ProjectCreated(name="Demo", description="d", mode="working"),
    TaskAdded(id="API-1", title="Build the API", parent="API", priority="high", effort=3.5,
              capabilities=("python",), metadata={"team": "core"}, verify_command="pytest"),
    ev.TaskEdited(id="API-1", title="Build the REST API", effort=4),
    ev.TaskMoved(id="API-1", parent=None),
    DependencyAdded(task="API-1", depends_on="DB-1"),
    ev.DependencyRemoved(task="API-1", depends_on="DB-1"),
    TaskStateChanged(id="API-1", from_state=TaskState.PENDING, to_state=TaskState.IN_PROGRESS, by="agent-7"),
    ev.ModeChanged(mode="working", reason="plan approved"),
    ev.CheckpointRecorded(id="API-1", notes="schema done", data={"step": 2}, by="agent-7"),
    ev.TasksImported(source="plan.json", tasks=3, dropped=({"where": "tasks[1].priority", "problem": "bad"},)),
    ev.AgentRegistered(agent="agent-7", kind="human", capabilities=("python",), capacity=2, at=1_764_000_000.5),
    ev.AgentDeregistered(agent="agent-7", reason="done for the day"),
    ev.AgentHeartbeat(agent="agent-7", at=1_764_000_100.0),
    ev.TaskAssigned(id="API-1", agent="agent-7", token=12, expires_at=1_764_000_300.0, attempt=2, at=1_764_000_000.0),
    ev.LeaseRenewed(id="API-1", token=12, expires_at=1_764_000_450.0, at=1_764_000_150.0),
    ev.LeaseReleased(id="API-1", token=12, reason="completed"),
    ev.LeaseExpired(id="API-1", token=12, agent="agent-7", reason="not renewed"),
]


def test_every_event_type_has_an_example():
    assert {e.type for e in EXAMPLES} == set(EVENT_MODELS)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_encode_then_parse_round_trips(event):
    logged = encode_event(event)
    assert logged["type"] == event.type and logged["data"]["v"] == 1
    assert "type" not in logged["data"]
    assert parse_event(logged["type"], logged["data"]) == event


def test_encoding_is_compact_but_always_versioned():
    logged = encode_event(TaskAdded(id="T1", title="t"))
    assert logged["data"] == {"id": "T1", "title": "t", "v": 1}


@pytest.mark.parametrize("bad_id", ["", "has space", "a/b", "-leading", "x" * 129, "é"])
def test_task_ids_are_readable_and_safe(bad_id):
    with pytest.raises(ValidationError):
        TaskAdded(id=bad_id, title="t")


@pytest.mark.parametrize("field, value", [("effort", -1), ("effort", float("nan")), ("priority", "urgent"),
                                          ("title", ""), ("unknown", 1)])
def test_invalid_fields_are_refused(field, value):
    with pytest.raises(ValidationError):
        TaskAdded(**{"id": "T1", "title": "t", field: value})


def test_unknown_type_and_future_versions_are_refused():
    with pytest.raises(UnknownEventError, match="unknown event type"):
        parse_event("task.teleported", {})
    with pytest.raises(UnknownEventError, match="newer than this code"):
        parse_event("task.added", {"id": "T1", "title": "t", "v": 2})


def test_old_records_are_upcast_step_by_step(monkeypatch):
    """Simulate two schema changes of task.added: v1 'name' -> v2 'title', v2 -> v3 adds a default."""
    monkeypatch.setitem(ev.CURRENT_VERSION, "task.added", 3)
    monkeypatch.setitem(ev.UPCASTERS, ("task.added", 1),
                        lambda d: {**{k: v for k, v in d.items() if k != "name"}, "title": d["name"]})
    monkeypatch.setitem(ev.UPCASTERS, ("task.added", 2), lambda d: {**d, "priority": d.get("priority", "low")})
    event = parse_event("task.added", {"id": "T1", "name": "old-style", "v": 1})
    assert (event.title, event.priority, event.v) == ("old-style", "low", 3)


def test_a_record_without_a_version_is_version_one():
    assert parse_event("task.added", {"id": "T1", "title": "t"}).v == 1


def test_commands_validate_too():
    command = AddTask(title="Write docs", depends_on=("API-1",), capabilities=("writing",))
    assert command.id is None and command.priority == "medium"
    with pytest.raises(ValidationError):
        AddTask(title="x", depends_on=("not an id",))
    with pytest.raises(ValidationError):
        ev.Transition(id="T1", to_state="finished")


def test_the_trusted_fold_tables_match_the_models():
    from planner.domain.trusted import SHAPES

    assert set(SHAPES) == set(EVENT_MODELS)
    for name, model in EVENT_MODELS.items():
        version, defaults = SHAPES[name]
        assert version == ev.CURRENT_VERSION[name]
        optional = {f: info.default for f, info in model.model_fields.items()
                    if not info.is_required() and f not in ("v", "type")}
        assert {f: (tuple(d) if isinstance(d, tuple) else d) for f, d in defaults.items()} == optional, name


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_folding_a_record_gives_the_fields_validation_gives(event):
    from planner.domain.trusted import fold_event

    logged = encode_event(event)
    fact = fold_event(logged["type"], logged["data"])
    model = parse_event(logged["type"], logged["data"])
    for field in type(model).model_fields:
        assert getattr(fact, field) == getattr(model, field), field
        assert type(getattr(fact, field)) is type(getattr(model, field)), field


def test_an_old_version_is_folded_through_validation_and_upcasting():
    from planner.domain.trusted import fold_event

    with pytest.raises(Exception, match="newer than this code"):
        fold_event("task.added", {"v": 99, "id": "a", "title": "t"})
