"""Reading plans from files: the fixture format (JSON) and Markdown outlines.

The fixture format is the original super-planner's test-data format, which
is also what ``planner export --format json`` writes::

    {"project": {"id", "name", "description", ...},
     "tasks": [{"id", "name", "description", "parent_id", "status", "priority",
                "estimated_effort", "capabilities_required", "dependencies", "metadata"}],
     "expected_outcomes": {"total_tasks", "max_depth", "total_effort", "critical_path",
                           "critical_path_effort", "capabilities_distribution"}}

:func:`read_plan` turns a file into task specs plus the problems found in its
shape (each with its JSON path); :func:`import_plan` hands both to the planner
as one :class:`~planner.domain.events.AddTasks` command, which checks references,
cycles and states against the project and reports every problem at once. A
task key that the format does not know is kept in the task's ``metadata``
(under ``"extra"``), so nothing in the file is lost. Costs: O(file size) to
read, then the batch's costs (see :mod:`planner.domain.batch`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planner.domain import events as ev
from planner.domain.errors import DomainError, InvalidPlanError
from projections.bulk import gc_paused

#: the original super-planner's ``TaskState`` names (its own files use them), what each becomes
#: here, and why when it is not the same thing
ORIGINAL_STATES: dict[str, tuple[str, str]] = {
    "NOT_STARTED": ("pending", ""),
    "ASSIGNED": ("pending", "no lease comes with a file: ready to be claimed again"),
    "IN_PROGRESS": ("in_progress", "kept in progress without a lease: no agent holds it here"),
    "COMPLETED": ("completed", ""),
    "BLOCKED": ("blocked", ""),
    "CANCELLED": ("cancelled", ""),
    "FAILED": ("failed", ""),
}


class FixtureTask(BaseModel):
    """One task of the fixture format (validation only; becomes a TaskSpec). Also reads the
    original super-planner's files: its upper-case state names (:data:`ORIGINAL_STATES`) and
    priority words in any case."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @field_validator("status", mode="before")
    @classmethod
    def _original_state(cls, value: Any) -> Any:
        if isinstance(value, str) and value in ORIGINAL_STATES:
            return ORIGINAL_STATES[value][0]
        return value

    @field_validator("priority", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    id: ev.TaskId
    name: ev.Name
    description: str = ""
    parent_id: ev.TaskId | None = None
    status: ev.TaskState = ev.TaskState.PENDING
    priority: ev.Priority = "medium"
    estimated_effort: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    capabilities_required: list[ev.Capability] = []
    dependencies: list[ev.TaskId] = []
    metadata: dict[str, Any] = {}
    verify_command: str | None = None


@dataclass
class ParsedPlan:
    """What a file holds: specs to add, shape problems, and what the file expects."""

    source: str
    specs: list[ev.TaskSpec]
    problems: list[tuple[str, str]] = field(default_factory=list)
    project: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] | None = None
    withheld: list[str] = field(default_factory=list)  # ids of tasks left out for their shape
    translated: dict[str, int] = field(default_factory=dict)  # an original state name -> how many tasks had it
    dependencies_key: str = "dependencies"
    state_key: str = "status"


class PlanFileError(DomainError):
    """The file cannot be read as a plan at all (missing, not JSON, not the format)."""


#: the plan formats, and the file suffixes that mean them when no format is given
PLAN_FORMATS = {"json": (".json",), "md": (".md", ".markdown")}


def read_plan(path: str | Path, format: str | None = None, stdin: Any = None) -> ParsedPlan:  # noqa: A002
    """Read a plan: fixture-format JSON or a Markdown outline. ``format`` (``json`` or ``md``)
    wins; else the suffix decides (``.md``/``.markdown``: an outline; ``.json``: JSON), and a
    file with neither is refused rather than guessed. ``-`` reads ``stdin`` (default: the
    process's standard input), which needs a format unless it is JSON."""
    if format is not None and format not in PLAN_FORMATS:
        raise PlanFileError(f"unknown plan format {format!r}: use json or md")
    if str(path) == "-":
        import sys

        name, text = "<stdin>", (stdin or sys.stdin).read()
        format = format or "json"
    else:
        path = Path(path)
        name = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PlanFileError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PlanFileError(f"{path}: cannot be read ({exc})") from None
        if format is None:
            format = next((f for f, suffixes in PLAN_FORMATS.items() if path.suffix.lower() in suffixes), None)
            if format is None:
                raise PlanFileError(f"{path}: is it JSON or a Markdown outline? name it .json or .md, "
                                    "or say which with --format json|md")
    if format == "md":
        return read_outline(text, name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    return read_fixture(data, name)


def read_fixture(data: Any, source: str = "<data>") -> ParsedPlan:
    """Specs from fixture-format data; every shape problem with its JSON path. O(size)."""
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise PlanFileError(f"{source}: expected an object with a \"tasks\" list (the fixture format)")
    plan = ParsedPlan(source, [], project=data.get("project") or {}, expected=data.get("expected_outcomes"))
    if plan.expected is not None and not isinstance(plan.expected, dict):
        plan.problems.append(("expected_outcomes", "must be an object"))
        plan.expected = None
    for i, raw in enumerate(data["tasks"]):
        where = f"tasks[{i}]"
        original = raw.get("status") if isinstance(raw, dict) else None
        if isinstance(original, str) and original in ORIGINAL_STATES:
            plan.translated[original] = plan.translated.get(original, 0) + 1
        try:
            task = FixtureTask.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
                plan.problems.append((where + loc, err["msg"]))
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                plan.withheld.append(raw["id"])  # its children and dependents must not find another task
            continue
        metadata = dict(task.metadata)
        if task.model_extra:
            metadata["extra"] = dict(task.model_extra)
        plan.specs.append(ev.TaskSpec(
            id=task.id, title=task.name, description=task.description, parent=task.parent_id,
            depends_on=tuple(task.dependencies), priority=task.priority, effort=task.estimated_effort,
            capabilities=tuple(task.capabilities_required), metadata=metadata,
            verify_command=task.verify_command, state=task.status, where=where,
        ))
    return plan


def read_outline(text: str, source: str = "<outline>") -> ParsedPlan:
    """Specs from a Markdown outline (see :mod:`planner.plans.outline` for the syntax)."""
    from planner.plans.outline import OutlineError, parse_outline

    try:
        items = parse_outline(text, source)
    except OutlineError as exc:  # every problem, each with its line
        raise InvalidPlanError(source, [(f"{source}:{p.line}", p.message) for p in exc.problems]) from None
    specs = []
    for item in items:
        line = item.pop("line", None)
        where = f"{source}:{line}" if line is not None else f"{source}#{item['id']}"
        if item.get("metadata", {}).get("checked"):  # `- [x]`: done already
            item["state"] = "completed"
        specs.append(ev.TaskSpec(**item, where=where))
    return ParsedPlan(source, specs, dependencies_key="after", state_key="checked")


def import_plan(planner: Any, plan: ParsedPlan, skip_invalid: bool = False) -> dict[str, Any]:
    """Add ``plan`` to the project as one batch; return a report.

    Raises :class:`~planner.domain.errors.InvalidPlanError` listing every problem
    (nothing written) unless ``skip_invalid``. The report says what was
    imported, what was dropped, and how the file's ``expected_outcomes``
    compare with what the planner computes for the imported tasks.
    """
    command = _command(plan, skip_invalid)
    with gc_paused():  # a big import allocates millions of long-lived objects
        events = planner.execute(command)
    closing = events[-1] if events and events[-1].type == "project.imported" else None
    report: dict[str, Any] = {
        "source": plan.source,
        "imported": closing.tasks if closing else 0,
        "dropped": [dict(d) for d in closing.dropped] if closing else [],
    }
    if plan.translated:
        report["states_translated"] = states_translated(plan)
    if plan.expected is not None:
        report["expected_outcomes"] = compare_expected(plan.expected, _analysis_of(events))
    return report


def states_translated(plan: ParsedPlan) -> list[dict[str, Any]]:
    """What became of each original state name in the file: ``[{"from", "to", "tasks", "note"}]``."""
    return [{"from": name, "to": ORIGINAL_STATES[name][0], "tasks": n, "note": ORIGINAL_STATES[name][1]}
            for name, n in plan.translated.items()]


def refuse_if_invalid(plan: ParsedPlan) -> None:
    """Raise the :class:`~planner.domain.errors.InvalidPlanError` that importing ``plan`` into a
    new project would raise, before the project is created: a refused import leaves nothing."""
    from planner.domain.batch import decide_add_tasks
    from projections.graph import TaskGraph

    decide_add_tasks(TaskGraph(), _command(plan, skip_invalid=False))


def _command(plan: ParsedPlan, skip_invalid: bool) -> Any:
    return ev.AddTasks(tasks=tuple(plan.specs), source=plan.source, skip_invalid=skip_invalid,
                       problems=tuple(plan.problems), withheld=tuple(plan.withheld),
                       dependencies_key=plan.dependencies_key, state_key=plan.state_key)


def check_plan(planner: Any | None, plan: ParsedPlan) -> dict[str, Any]:
    """What importing ``plan`` would do, writing nothing (``planner import --dry-run``).

    Every problem (as the import would report it, against the project's current
    state, or an empty project when ``planner`` is None), the file's dependency
    cycles as strongly connected components (each with the edges inside it, see
    :func:`projections.analysis.cycles`), and the expected outcomes compared.
    """
    from planner.domain.batch import decide_add_tasks
    from projections.analysis import cycles
    from projections.graph import TaskGraph

    command = _command(plan, skip_invalid=True)
    if planner is not None:
        planner.refresh()
    graph = planner.graph if planner is not None else TaskGraph()
    with gc_paused():
        events = decide_add_tasks(graph, command)  # pure: decides, writes nothing
    closing = events[-1]
    ids = {spec.id for spec in plan.specs if spec.id is not None}
    parent = {spec.id: (spec.parent if spec.parent in ids else None) for spec in plan.specs if spec.id is not None}
    depends = {spec.id: [d for d in spec.depends_on if d in ids] for spec in plan.specs if spec.id is not None}
    report: dict[str, Any] = {
        "source": plan.source,
        "would_import": closing.tasks,
        "problems": [dict(d) for d in closing.dropped],
        "cycles": cycles(parent, depends),
    }
    if plan.translated:
        report["states_translated"] = states_translated(plan)
    if plan.expected is not None:
        report["expected_outcomes"] = compare_expected(plan.expected, _analysis_of(events))
    return report


def _analysis_of(events: list[Any]) -> dict[str, Any]:
    """The analysis of the tasks these events add, on their own (not the whole project)."""
    from projections.analysis import analyze
    from projections.graph import TaskGraph

    graph = TaskGraph()
    seq = 0
    for event in events:
        if event.type == "task.added" and event.parent is not None and event.parent not in graph.tasks:
            event = event.model_copy(update={"parent": None})  # under an existing task: a root here
        if event.type == "dependency.added" and event.depends_on not in graph.tasks:
            continue  # on a task outside the file
        seq += 1
        graph.apply(seq, event)
    return analyze(graph).to_dict()


#: expected_outcomes key -> the analysis key that answers it
_EXPECTED = {
    "total_tasks": "tasks", "max_depth": "max_depth", "total_effort": "total_effort",
    "critical_path": "critical_path", "critical_path_effort": "critical_path_effort",
    "capabilities_distribution": "capabilities", "leaves": "leaves",
}


def compare_expected(expected: dict[str, Any], analysis: dict[str, Any]) -> dict[str, Any]:
    """Each expected outcome against the computed one: ``{"matched": [...], "mismatched":
    [{"key", "expected", "computed"}], "unchecked": [...]}`` (keys it has no measure for)."""
    matched, mismatched, unchecked = [], [], []
    for key, want in expected.items():
        if key not in _EXPECTED:
            unchecked.append(key)
            continue
        got = analysis[_EXPECTED[key]]
        same = abs(float(want) - float(got)) < 1e-9 if isinstance(got, float) and isinstance(want, int | float) \
            else want == got
        if same:
            matched.append(key)
        else:
            mismatched.append({"key": key, "expected": want, "computed": got})
    return {"matched": matched, "mismatched": mismatched, "unchecked": unchecked}
