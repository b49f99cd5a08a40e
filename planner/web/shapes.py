"""The few shapes the dashboard adds to the service's (:mod:`planner.service.schema`).

Each is built from the service's queries only, so it works on the live project and on a
past one (:meth:`planner.service.service.Service.at`) alike; ``now`` is the moment the
view shows (the present, or the time of the seq travelled to), so that ages and time left
are those of that moment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from typing_extensions import TypedDict

from planner.domain.errors import UnknownTask
from planner.service.schema import AgentView, LeaseShown
from planner.service.service import ProjectView, event_view


class LeaseRow(LeaseShown, total=False):
    title: str
    state: str
    notes: str | None  # the task's last checkpoint note


class AgentRow(AgentView, total=False):
    heard_ago: float  # seconds between its last sign of life and ``now``
    leases: list[LeaseRow]  # type: ignore[misc]


class Effort(TypedDict):
    total: float
    done: float
    fraction: float


class TaskState(TypedDict):
    state: str
    done: bool
    ready: bool


class Completions(TypedDict):
    seq: int  # the log was read up to here
    times: list[float]  # when each completion was recorded, seconds since the epoch, oldest first


@contextlib.contextmanager
def live_view(service: Any) -> Iterator[Any]:
    """Several reads of a live service that agree, for one refresh: the service's read-only queries
    (:class:`~planner.service.service.ProjectView`) on its graph, under its engine's lock (held for
    the block: keep it short; a server's commands wait meanwhile)."""
    planner = service.planner
    with planner.locked():
        planner.refresh()
        yield ProjectView(planner.graph, planner.clock)


def epoch(ts: str) -> float:
    """A record's ``ts`` (ISO 8601) in seconds since the epoch."""
    return datetime.fromisoformat(ts).timestamp()


def agents(view: Any, now: float) -> list[dict[str, Any]]:
    """Every agent (:class:`AgentRow`): the service's view, plus each lease's task (title, state,
    last checkpoint note) and how long ago it was heard from. O(agents + leases x degree)."""
    from projections.views import health  # the service's own rule, applied at ``now``

    ttl = view.status()["lease_ttl"]
    rows = view.agents()
    for row in rows:
        row["heard_ago"] = round(max(0.0, now - row["last_seen"]), 1)
        row["health"] = health(row, now, ttl)
        for lease in row["leases"]:
            lease["expires_in"] = round(lease["expires_at"] - now, 1)
            try:
                task = view.show(lease["task"])
            except UnknownTask:
                continue
            lease["title"], lease["state"] = task["title"], task["state"]
            lease["notes"] = (task["checkpoint"] or {}).get("notes")
    return rows


def effort(view: Any) -> dict[str, Any]:
    """Progress by effort (:class:`Effort`): done leaf effort over all leaf effort. O(n + e)."""
    a = view.analyze(top=0)
    total = a["total_effort"]
    return {"total": total, "done": round(total - a["remaining_effort"], 6), "fraction": a["progress"]}


class EffortTally:
    """Progress by effort kept up to date from the events: the leaves' efforts read once (O(n),
    again after the tree changed shape or an effort was edited), then O(1) per completion. The
    same figures as :func:`effort` (a leaf counts when completed; a container weighs nothing)."""

    def __init__(self) -> None:
        self.efforts: dict[str, float] | None = None  # leaf -> effort; None: to be read
        self.total = self.done = 0.0
        self.seq = 0  # the figures include every event up to here

    def read(self, view: Any) -> None:
        before = view.status()["seq"]
        efforts, done, stack = {}, 0.0, list(view.tree())
        while stack:
            node = stack.pop()
            if node["children"]:
                stack.extend(node["children"])
            else:
                efforts[node["id"]] = float(view.show(node["id"])["effort"])
                done += efforts[node["id"]] if node["state"] == "completed" else 0.0
        self.total, self.done = sum(efforts.values()), done
        # events up to `seq` are in these figures; one appended while reading may be or not: read again next time
        self.efforts, self.seq = (efforts, before) if view.status()["seq"] == before else (None, before)

    def fold(self, events: list[Any]) -> None:
        """Count the completions among ``events`` (records of the log)."""
        for e in events:
            kind, data = e.type, e.data
            if self.efforts is None or e.seq <= self.seq:
                continue
            if kind == "task.state_changed" and data["to_state"] == "completed":
                self.done += self.efforts.get(data["id"], 0.0)  # (completed is terminal: counted once)
            elif kind in ("task.added", "task.moved") or (kind == "task.edited" and data.get("effort") is not None):
                self.efforts = None

    def figures(self, view: Any, fresh: bool = True) -> dict[str, Any]:
        """The figures; ``fresh``: read the efforts again first when the tree changed shape."""
        if self.efforts is None and (fresh or not self.total):
            self.read(view)
        return {"total": round(self.total, 6), "done": round(self.done, 6),
                "fraction": self.done / self.total if self.total else 1.0}


#: events of a message sent in full (for the feed); the rest of a busy batch is summed up
EVENTS_SENT = 25


def digest(events: list[Any]) -> dict[str, Any]:
    """A batch of records of the log as a page needs it: the last :data:`EVENTS_SENT` as EventViews
    (``events``, with how many came before them: ``skipped``), every task's new ``states``, the
    ``completed`` ones ([seq, ts]), the parents whose children changed (``shape``, "" for the top),
    whether the dependency graph changed (``graph``), new ``titles``, and the tasks ``touched``
    (None when more than a thousand). O(events); an EventView (its text) only for those sent."""
    states: dict[str, str] = {}
    completed, shape, titles, touched, graph = [], set(), {}, set(), False
    for e in events:
        kind, data = e.type, e.data
        if kind == "task.state_changed":
            states[data["id"]] = data["to_state"]
            if data["to_state"] == "completed":
                completed.append([e.seq, e.ts])
        elif kind in ("task.added", "task.moved"):
            shape.add(data.get("parent") or "")
            if kind == "task.moved":
                shape.add("")  # (the old parent is not in the event: reload from the top)
            graph = True
        elif kind == "task.edited":
            graph = True
            if data.get("title"):
                titles[data["id"]] = data["title"]
        elif kind.startswith("dependency."):
            graph = True
        touched.update(data[k] for k in ("id", "task", "depends_on") if isinstance(data.get(k), str))
    return {"events": [event_view(e) for e in events[-EVENTS_SENT:]], "skipped": max(0, len(events) - EVENTS_SENT),
            "states": states,
            "completed": completed, "shape": sorted(shape), "graph": graph, "titles": titles,
            "touched": sorted(touched) if len(touched) <= 1000 else None}


def _flags(shown: dict[str, Any]) -> dict[str, Any]:
    return {"state": shown["state"], "done": shown["done"], "ready": shown["ready"]}


#: children of a container listed when its dependencies are done (its leaves may all be ready now)
CHILDREN_LISTED = 200


def derived(view: Any, events: list[Any]) -> dict[str, dict[str, Any]]:
    """What ``events`` (records of the log) changed besides what they say (:class:`TaskState` by id): a completed task's
    containers (done now?) and the dependents of it and of every container it completed (ready
    now?; a container's children too); a task back to pending (ready?). Computed once per message
    for every page, so that no page asks for it. O(changed x (depth + dependents) x degree)."""
    completed, pended = [], []
    for e in events:
        if e.type == "task.state_changed":
            to = e.data["to_state"]
            (completed if to == "completed" else pended if to == "pending" else []).append(e.data["id"])
    out: dict[str, dict[str, Any]] = {}

    def note(task: str) -> dict[str, Any] | None:
        try:
            shown = view.show(task)
        except UnknownTask:
            return None
        out[task] = _flags(shown)
        return shown

    for task in pended:
        note(task)
    for task in completed:
        shown = note(task)
        while shown is not None:
            for dependent in shown["dependents"]:
                if dependent not in out and (after := note(dependent)) is not None:
                    for child in after["children"][:CHILDREN_LISTED]:
                        note(child)
            if not shown["done"] or shown["parent"] is None:
                break
            shown = note(shown["parent"])  # (a container done now: its dependents next)
    return out


def states(view: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """State, done and ready of each known task of ``ids`` (:class:`TaskState`); unknown ids are
    left out (the task did not exist yet at a past seq). O(ids x degree)."""
    out = {}
    for task in ids:
        try:
            shown = view.show(task)
        except UnknownTask:
            continue
        out[task] = _flags(shown)
    return out
