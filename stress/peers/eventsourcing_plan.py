"""The eventsourcing library's peer of a loaded plan (``pip install -e '.[bench]'``), for ``python -m stress.bench load``.

PyPI ``eventsourcing`` (pyeventsourcing), used as its documentation shows: the
project is one ``Plan`` aggregate in an ``Application`` on the library's SQLite
recorder (WAL, ``synchronous=FULL``: see :mod:`stress.peers.eventsourcing_step`),
with one event per fact, as the planner's import writes them::

    Plan.Created(name)                    version 1
    Plan.TaskAdded(task)                  one per task: the fixture's fields but its dependencies
    Plan.DependencyAdded(task, depends_on)  one per edge

The aggregate's state is what the other peers' loads build: tasks by id,
children and dependency lists per task (no derived indexes: no ready queue,
no counters, which the planner's state has).

What the benchmark measures on it:

* :func:`create` ("import"): build the aggregate from the fixture (1 + n + e
  events) and ``app.save`` it: one transaction, each event inserted at its
  expected version (the primary key ``(originator_id, originator_version)``
  is the library's optimistic concurrency control), committed durably. O(n + e).
* :func:`load` with ``snapshot=False`` ("cold load, full replay"): a new
  application on the file and ``repository.get``: select every event,
  decode it (the library's JSON transcoder) and apply it. O(n + e).
* :func:`load` with ``snapshot=True`` ("cold load, snapshot"): the same with
  snapshotting on, after :func:`snapshot` stored one at the last version:
  the aggregate is restored from the snapshot, then the (here empty) tail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

PLAN_ID = UUID("5e0c6f1e-0000-4000-8000-000000000002")
LOCK_TIMEOUT_S = 60


class Plan(Aggregate):
    """A project: tasks by id (fixture dicts without ``dependencies``), children and dependencies per task."""

    @staticmethod
    def create_id(name: str) -> UUID:
        return PLAN_ID  # one plan per database

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[str]] = {}
        self.depends_on: dict[str, list[str]] = {}

    @event("TaskAdded")
    def add_task(self, task: dict[str, Any]) -> None:
        tid = task["id"]
        self.tasks[tid] = task
        self.children.setdefault(tid, [])
        self.depends_on[tid] = []
        parent = task.get("parent_id")
        if parent is not None:
            self.children.setdefault(parent, []).append(tid)

    @event("DependencyAdded")
    def add_dependency(self, task: str, depends_on: str) -> None:
        self.depends_on[task].append(depends_on)


class PlanApp(Application):
    """The application over the plan's database."""


def env_for(db_path: str | Path, snapshots: bool) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db_path),
            "SQLITE_LOCK_TIMEOUT": str(LOCK_TIMEOUT_S), "IS_SNAPSHOTTING_ENABLED": "y" if snapshots else "n"}


def create(db_path: str | Path, fixture: dict[str, Any]) -> int:
    """Create the database and save the whole plan (one event per task and per edge) in one
    durable transaction; return the number of events saved."""
    plan = Plan(name=str((fixture.get("project") or {}).get("id", "plan")))
    tasks = fixture["tasks"]
    for task in tasks:
        plan.add_task(task={k: v for k, v in task.items() if k != "dependencies"})
    for task in tasks:
        for dep in task.get("dependencies", ()):
            plan.add_dependency(task=task["id"], depends_on=dep)
    app = PlanApp(env=env_for(db_path, snapshots=True))  # creates the snapshots table too, for snapshot()
    try:
        app.save(plan)
    finally:
        app.close()
    return plan.version


def snapshot(db_path: str | Path) -> int:
    """Store a snapshot of the plan at its last version (what a snapshotting application keeps);
    return that version."""
    app = PlanApp(env=env_for(db_path, snapshots=True))
    try:
        app.take_snapshot(PLAN_ID)
        return app.repository.get(PLAN_ID).version
    finally:
        app.close()


def load(db_path: str | Path, snapshot: bool = False) -> Plan:
    """A new application on the file, and the plan rebuilt from its events (from the snapshot
    and the events after it, with ``snapshot``). The application is closed before returning."""
    app = PlanApp(env=env_for(db_path, snapshots=snapshot))
    try:
        return app.repository.get(PLAN_ID)
    finally:
        app.close()
