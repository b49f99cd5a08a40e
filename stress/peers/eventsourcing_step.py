"""The eventsourcing library's peer of the EventLog read-decide-append step (``pip install -e '.[bench]'``).

PyPI ``eventsourcing`` (pyeventsourcing), used as its documentation shows: a
``Counter`` aggregate in an ``Application`` on the library's SQLite recorder
(``PERSISTENCE_MODULE=eventsourcing.sqlite``, which puts the file in WAL mode;
Python's ``sqlite3`` leaves ``synchronous`` at FULL, checked by :func:`create`,
so a save returns after the WAL is fsynced: the same promise as an EventLog
with ``durability="always"``). One step::

    counter = app.repository.get(COUNTER_ID)  # the aggregate cache fast-forwards: reads the events
                                               # after the cached version only (as tx.records does)
    counter.increment(n=counter.n + 1, by=me)  # decide: one new event at version + 1
    app.save(counter)                          # INSERT with the expected version, one transaction

The library's concurrency control is optimistic: the primary key
``(originator_id, originator_version)`` rejects a save when another process
appended that version first (``IntegrityError``), and the step starts over
(its ``get`` fast-forwards past the winner's event). A step's latency covers
its retries, as an EventLog step's covers its wait for the lock. The lock
timeout is 60 s, as :mod:`stress.peers.sqlite_step`'s busy timeout. Each
worker process opens its own application.

Each event carries ``n``, the worker and the same 100-byte pad as the other
steps; :func:`check` re-reads them all afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

COUNTER_ID = UUID("5e0c6f1e-0000-4000-8000-000000000001")
LOCK_TIMEOUT_S = 60
_PAD = "x" * 100


class Counter(Aggregate):
    """The counter the workers increment: ``n`` and who incremented it last."""

    @staticmethod
    def create_id() -> UUID:
        return COUNTER_ID  # every process knows the one counter

    def __init__(self) -> None:
        self.n = 0
        self.by = -1

    @event("Incremented")
    def increment(self, n: int, by: int, pad: str) -> None:
        self.n = n
        self.by = by


class CounterApp(Application):
    """The application each worker opens on the shared database."""


def env_for(db_path: str | Path) -> dict[str, str]:
    """The application's settings: the library's SQLite recorder on ``db_path``, an aggregate cache
    of one that fast-forwards, no snapshots."""
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db_path),
            "SQLITE_LOCK_TIMEOUT": str(LOCK_TIMEOUT_S), "AGGREGATE_CACHE_MAXSIZE": "1",
            "AGGREGATE_CACHE_FASTFORWARD": "y", "IS_SNAPSHOTTING_ENABLED": "n"}


def create(db_path: str | Path) -> None:
    """Create the database (the recorder's table) and the counter at version 1, n = 0.
    Raises RuntimeError unless the recorder's connections fsync on commit (synchronous=FULL)."""
    app = CounterApp(env=env_for(db_path))
    try:
        with app.factory.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA synchronous")
            level = cursor.fetchone()[0]
        if level < 2:
            raise RuntimeError(f"the eventsourcing SQLite recorder runs with synchronous={level}, not FULL (2)")
        app.save(Counter())
    finally:
        app.close()


class EventsourcingCounterStep:
    """One worker's handle: its own application; ``step()`` as the module docstring shows."""

    def __init__(self, path: str, worker_id: int, env: dict[str, str] | None = None):
        self.worker_id = worker_id
        self.app = CounterApp(env=env_for(path) if env is None else env)  # (env: another recorder)
        self.conflicts = 0  # saves rejected because another process appended first

    def warm_up(self) -> None:
        """Open a connection and fill the aggregate cache before the measured window."""
        self.app.repository.get(COUNTER_ID)

    def step(self) -> float:
        start = time.perf_counter()
        get, save = self.app.repository.get, self.app.save
        while True:
            counter: Any = get(COUNTER_ID)
            counter.increment(n=counter.n + 1, by=self.worker_id, pad=_PAD)
            try:
                save(counter)
                break
            except IntegrityError:
                self.conflicts += 1  # another process appended this version first: read again, decide again
        return time.perf_counter() - start

    def close(self) -> None:
        self.app.close()


def check(db_path: str | Path, reported_steps: int) -> list[str]:
    """Problems found after a run: every event of the counter read back in version order must
    have versions 2, 3, ... (the creation is 1) and ``n`` = 1, 2, ..., one per reported step."""
    app = CounterApp(env=env_for(db_path))
    try:
        events = list(app.events.get(COUNTER_ID))
    finally:
        app.close()
    problems = []
    increments = events[1:]
    if len(increments) != reported_steps:
        problems.append(f"{len(increments)} increments stored but workers reported {reported_steps} steps")
    for i, e in enumerate(increments, 1):
        if e.originator_version != i + 1 or e.n != i:
            problems.append(f"increment #{i} has version {e.originator_version} and n={e.n}, expected version "
                            f"{i + 1} and n={i} (lost or repeated update)")
            break
    return problems
