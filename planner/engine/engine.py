"""The engine: every command is one read-decide-append step on the project's store.

::

    execute(command):
        with store.transaction() as tx:        # the append lock: decisions see the latest state
            fold tx.records into the graph     # what other processes appended since
            if the command's id is in the log: return its original result (a retry)
            events = decide(graph, command)    # pure; raises DomainError, writing nothing
            tx.append(events, idempotency_key=command.command_id)
        fold our own events                    # after the flush: acknowledged means durable
        maintenance.after_write()              # a snapshot or an archive commit, when due

Queries (``task``, ``tasks``, ``ready``, ``stats``) first fold whatever other
processes appended, lock-free (``Store.catch_up``), then read a view
(:mod:`projections.views`). A command does the same before it takes the
store's lock, so that inside the lock it folds only what arrived meanwhile.
Folding is idempotent by seq, so no record is ever applied twice.

The engine depends on the storage protocol only (:class:`eventstore.Store`,
opened by name with :func:`eventstore.open_store`); a planner home keeps its
projects in the file store ``<home>/projects``. Its operational duties
(snapshots, the git archive, reaping) are steps of :mod:`planner.engine.maintenance`.

Concurrency: a handle may be shared by the threads of one process (a long-running
server answering many requests). One re-entrant lock per handle covers every fold,
decide and read of the in-memory graph (``with planner.locked():`` for several reads
in a row), and the store's transaction serialises appends across processes, so the
threads of a process and the processes of a machine each see a single writer.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from eventstore import CorruptSnapshotWarning, InvalidArgumentError, LogNotFoundError, Record, Store, open_store
from eventstore.errors import EventStoreError
from eventstore.store import check_project_name
from planner.domain.errors import DomainError, ProjectNotFound, UnknownTask
from planner.domain.trusted import fold_event
from planner.engine.commands import OnFirstUse, PlannerCommands, ev
from planner.engine.maintenance import Maintenance
from projections import views
from projections.bulk import gc_paused
from projections.graph import TaskGraph

_rules: Any = OnFirstUse("planner.domain.decide")
_leasing: Any = OnFirstUse("planner.domain.leasing")


def home_store(home: os.PathLike | str) -> str:
    """The store of a planner home: the file store in ``<home>/projects``."""
    return os.fspath(Path(home) / "projects")


def archives_dir(home: os.PathLike | str, project: str) -> Path:
    """Where a home keeps the git archive of a project whose store keeps no files (PostgreSQL):
    each machine's home its own copy of the shared history."""
    return Path(home) / "archives" / project


class Planner(PlannerCommands):
    """One project, opened by one process (open one per process; they coordinate through the store)."""

    def __init__(self, log: Store, project: str, snapshot_every: int = 1000,
                 clock: Callable[[], float] = time.time, archive_every: int = 2000, archive_interval: float = 60.0,
                 maintenance: Maintenance | None = None):
        self.log = log  # the project's store (named log: it is the project's log, whatever keeps it)
        # where the git archive is kept: beside a file store's log; for another store, in a
        # directory of the home (Planner.open), or nowhere (no archive) when there is no home
        self.archive_dir: Path | None = Path(log.path) if getattr(log, "path", None) else None
        self.maintenance = maintenance or Maintenance(snapshot_every, archive_every, archive_interval)
        self.clock = clock  # seconds since the epoch; the only clock the planner reads (tests pass their own)
        self.project = project
        self.graph = TaskGraph()
        self.graph.index.defer_reach()  # built by the first cycle check: a replay never needs it
        self.loaded_from_snapshot = 0  # the seq of the snapshot this handle started from, if any
        self._lock = threading.RLock()  # one fold/decide/read of the graph at a time (see the module doc)
        self.journal: Any = None  # planner.engine.journal.Journal: acknowledged commands, when asked for
        self._group: Group | None = None  # the group open in :meth:`group`, if any
        self._stale = False  # a failed group's events are in the graph, not the store: rebuild it first

    @property
    def snapshot_every(self) -> int:
        return self.maintenance.snapshot_every

    @classmethod
    def open(cls, home: os.PathLike | str | None, project: str, create: bool = False, snapshot_every: int = 1000,
             max_depth: int = 8, description: str = "", lease_ttl: float = 300.0, max_attempts: int = 3,
             clock: Callable[[], float] = time.time, archive_every: int = 2000, archive_interval: float = 60.0,
             journal: os.PathLike | str | None = None, store: str | None = None,
             maintenance: Maintenance | None = None, archive_dir: os.PathLike | str | None = None,
             **log_options: Any) -> Planner:
        """Open project ``project`` under ``home`` (or in the store named ``store``: see
        :func:`eventstore.open_store`); with ``create``, make it if missing (``max_depth``,
        ``description``, ``lease_ttl`` in seconds and ``max_attempts`` apply only then).
        ``clock`` is the time source for leases (tests pass their own). ``journal``: a file
        to which every acknowledged command is appended, with the events it wrote
        (:mod:`planner.engine.journal`; the stress runners verify it). ``archive_dir``: where
        the git archive of a store without files is kept (default ``<home>/archives/<project>``;
        a file store keeps it beside the log).

        Starts from the newest usable snapshot and folds only the events after
        it: O(tasks + edges + tail) instead of O(all events).
        """
        try:
            check_project_name(project)
        except InvalidArgumentError as exc:
            raise DomainError(str(exc)) from None
        if store is None:
            if home is None:
                raise DomainError("Planner.open needs a home or a store")
            store = home_store(home)
        try:
            log = open_store(store, project, create=create, **log_options)
        except LogNotFoundError as exc:  # (a store that is not the home's is named as it says, password masked)
            where = os.fspath(home) if home is not None and store == home_store(home) else exc.path
            raise ProjectNotFound(project, where) from None
        planner = cls(log, project, snapshot_every, clock, archive_every, archive_interval, maintenance)
        if planner.archive_dir is None and (archive_dir is not None or home is not None):
            planner.archive_dir = Path(archive_dir) if archive_dir is not None else archives_dir(home, project)
        if journal is not None:
            from planner.engine.journal import Journal

            planner.journal = Journal(journal)
        with gc_paused():  # loading builds ~10 objects per task: no use scanning them as they come
            planner._start_from_snapshot()  # (first: it must find the handle unused)
            if create:
                planner.execute_events([ev.ProjectCreated(
                    name=project, max_depth=max_depth, description=description, lease_ttl=lease_ttl,
                    max_attempts=max_attempts)], only_if_empty=True)
            planner.refresh()
        return planner

    def _start_from_snapshot(self) -> None:
        """Load the newest snapshot the store still covers, and open the tail cursor after
        it (neither decodes the records the snapshot covers); a snapshot that cannot
        be used means a full replay, and a warning."""
        snap, cursor = self.log.start()
        if snap is not None and snap.seq > self.graph.seq:
            try:
                graph = TaskGraph.from_snapshot(orjson.loads(snap.data))
                if graph.seq != snap.seq:
                    raise ValueError(f"it describes seq {graph.seq}, its file says {snap.seq}")
            except (ValueError, KeyError, TypeError) as exc:
                warnings.warn(f"snapshot {snap.path} is not usable ({exc}): replaying the whole log",
                              CorruptSnapshotWarning, stacklevel=3)
            else:
                self.graph, self.loaded_from_snapshot = graph, snap.seq
                self.log.resume(snap)  # neither our reads nor our writes re-read what it covers
        cursor.close()  # (the store's handle reads on from there: Store.catch_up)

    def snapshot(self) -> int:
        """Save the projections now (derived data: safe to delete); return the seq they describe."""
        with self._lock:
            self.refresh()
            seq = self.graph.seq
            with gc_paused():
                data = orjson.dumps(self.graph.to_snapshot())
        self.log.save_snapshot(seq, data)
        self.log.prune_snapshots(keep=3)
        self.maintenance.last_snapshot = seq
        return seq

    def close(self, archive: bool = False) -> None:
        """Close the project. With ``archive`` (a long-running process shutting down cleanly,
        e.g. the supervisor of ``planner work``), first commit to the git archive what this
        handle wrote and is not archived yet. (Not by default: a one-command process such
        as the CLI would otherwise make a commit per command and defeat the batching.)"""
        if archive:
            from planner.engine.maintenance import archive_quietly

            self.refresh()
            if self.maintenance.archive_behind(self):
                archive_quietly(self)
        if self.journal is not None:
            self.journal.close()
        self.log.close()

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def locked(self) -> threading.RLock:
        """This handle's lock, to hold for several reads of :attr:`graph` in a row (threads):
        ``with planner.locked(): ...`` (the lock itself: a generator context manager cost 5% of
        a busy server)."""
        return self._lock

    def archive(self, force: bool = True) -> Any:
        """Commit what is not archived yet to the git archive (:func:`planner.engine.maintenance.commit_archive`)."""
        from planner.engine.maintenance import commit_archive

        return commit_archive(self, force=force)

# -- the write path ------------------------------------------------------
    def execute(self, command: Any) -> list[Any]:
        """Decide and append ``command`` atomically; return the events it produced.

        Every lease that has run out by the clock is expired first: whoever
        notices writes the expiry (so a replay never reads a clock), as its own
        batch, under the lock, before the command is decided on the state after
        it; the expiry stays written even when the command is then refused. A
        command that depends on the time gets ``now`` from the clock, read
        under the lock. A retried command (same ``command_id``) changes nothing
        and returns the events it produced the first time. Raises
        :class:`DomainError` when the command is refused (nothing of it written).
        """
        group = self._in_group()
        if group is not None:
            return group.decide(command)
        if self.journal is not None:
            return self._execute_journaled(command)
        timed = getattr(command, "now", 0) is None  # the engine says when it is
        while True:
            expired: list[Any] = []
            with self._lock:
                # fold what others appended before taking the store's lock, so that the work
                # inside it (only what arrives meanwhile) does not grow with the number of writers
                self._catch_up()
                with self.log.transaction() as tx:
                    self._fold(tx.records)
                    done = tx.seen(command.command_id) if command.command_id is not None else None
                    if done is not None:
                        return [ev.parse_event(r.type, r.data) for r in self.log.read(done.first_seq, done.last_seq)]
                    now = self.clock()
                    graph = self.graph
                    if graph.agents.next_due(graph.lease_ttl) <= now:  # (O(1) when nothing can be due)
                        expired = _leasing.expire(graph, now)
                    if expired:
                        result = tx.append([ev.encode_event(e) for e in expired])
                    else:
                        stamped = command.model_copy(update={"now": now}) if timed else command
                        events = _rules.decide(graph, stamped)  # raises DomainError: nothing written
                        if not events:
                            return []
                        result = tx.append([ev.encode_event(e) for e in events],
                                           idempotency_key=command.command_id)
                # written and flushed: fold them (under our lock, so no thread sees a half-folded graph)
                self._fold_own(result.first_seq, expired or events)
            if expired:  # now the command itself, on the state after them
                continue
            self.maintenance.after_write(self)
            return events

    def _execute_journaled(self, command: Any) -> list[Any]:
        """:meth:`execute`, then the journal line, once acknowledged (if anything was written)."""
        if command.command_id is None:
            import uuid  # (here: 2 ms of start-up that a command without a journal never pays)

            command = command.model_copy(update={"command_id": uuid.uuid4().hex})
        journal, self.journal = self.journal, None
        try:
            events = self.execute(command)
        finally:
            self.journal = journal
        if events:
            journal.ack_events(command.command_id, type(command).__name__, events)
        return events

    @contextmanager
    def group(self) -> Iterator[Group]:
        """Group commit: one store transaction in which commands are decided one by one
        (:meth:`Group.decide`, or simply :meth:`execute` from this thread while the group is
        open), each against the state that includes the ones before it; all their events are
        written in one write when the block ends, then flushed once. Leases that ran out are
        expired first, as in :meth:`execute`; a refused command writes nothing and does not
        disturb the others. Nothing decided in the block is durable before the ``with``
        statement ends: a server answers its requests only after it (an exception leaves
        the block: nothing of the group is written, and the graph is rebuilt from the store).

        Holds this handle's lock and the store's append lock for the whole block (other
        threads and processes wait); costs one lock acquisition, one write and one flush for
        the whole group: the point of ``planner serve``, which decides every request that
        arrived during the last flush in one group.
        """
        with self._lock:
            self._catch_up()  # (before the store's lock: see execute)
            group: Group | None = None
            try:
                with self.log.transaction(defer_flush=True) as tx:
                    self._fold(tx.records)
                    group = self._group = Group(self, tx, self.clock())
                    try:
                        group.expire()
                        yield group
                    finally:
                        self._group = None
            except BaseException:
                if group is not None and group.wrote:  # the graph holds events the store does not: rebuild it
                    try:
                        self._reload()
                    except EventStoreError:  # (the store is down too: rebuild before the next read or write)
                        self._stale = True
                raise
        tx.flush()  # (a failure: the store is broken, and every later write of this handle fails too)
        if group.wrote:
            self.maintenance.after_write(self)

    def execute_group(self, commands: list[Any]) -> list[Any]:
        """:meth:`group` for a list: per command, its events (a retried command id: the events it
        wrote the first time) or the :class:`DomainError` that refused it. Returns once every
        event is durable."""
        results: list[Any] = []
        with self.group() as group:
            for command in commands:
                try:
                    results.append(group.decide(command))
                except DomainError as exc:
                    results.append(exc)
        return results

    def _apply_pending(self, result: Any, events: list[Any]) -> None:
        """Fold events appended in an open transaction (a group: the next command's decision
        must see them); :meth:`_reload` undoes this if the transaction then fails."""
        for offset, event in enumerate(events):
            self.graph.apply(result.first_seq + offset, event)

    def _reload(self) -> None:
        """Rebuild the graph from the store's newest snapshot and the events after it."""
        with self._lock:
            graph = TaskGraph()
            snap = self.log.load_snapshot()
            if snap is not None:
                try:
                    graph = TaskGraph.from_snapshot(orjson.loads(snap.data))
                except (ValueError, KeyError, TypeError):
                    graph = TaskGraph()
            with gc_paused():
                for record in self.log.read(graph.seq + 1):
                    graph.apply(record.seq, fold_event(record.type, record.data))
            self.graph = graph

    def execute_events(self, events: list[Any], only_if_empty: bool = False) -> None:
        """Append events decided elsewhere (project creation, imports), folding them in."""
        with self._lock:
            with self.log.transaction() as tx:
                self._fold(tx.records)
                if only_if_empty and tx.last_seq:
                    return
                result = tx.append([ev.encode_event(e) for e in events])
            self._fold_own(result.first_seq, events)
        self.maintenance.snapshot_if_due(self)

    def refresh(self) -> None:
        """Fold what other processes appended since (without the store's lock). O(new records).
        Nothing to do inside this thread's open group: it holds the store's lock, and folded first."""
        with self._lock:
            if self._in_group() is None:
                self._catch_up()

    def _in_group(self) -> Group | None:
        """The group this thread has open, if any (another thread's group: it holds our lock)."""
        group = self._group
        return group if group is not None and group.thread == threading.get_ident() else None

    def fold(self, records: Iterable[Record]) -> None:
        """Fold records read from the store (those already folded are skipped)."""
        with self._lock:
            self._fold(records)

    def _catch_up(self) -> None:
        """Fold what others appended since; first rebuild the graph if a failed group left it
        ahead of the store (its reload failed then). Under ``_lock``."""
        if self._stale:
            self._reload()
            self._stale = False
        self._fold(self.log.catch_up())

    def _fold(self, records: Iterable[Record]) -> None:
        graph = self.graph
        for record in records:
            if record.seq > graph.seq:  # idempotent: a record is applied once
                graph.apply(record.seq, fold_event(record.type, record.data))

    def _fold_own(self, first_seq: int, events: list[Any]) -> None:
        for offset, event in enumerate(events):
            self.graph.apply(first_seq + offset, event)

    def reap(self, command_id: str | None = None) -> list[Any]:
        """Expire every lease that has run out; return the ``lease.expired`` events written."""
        group = self._in_group()
        if group is not None:  # (the group expired what was due when it opened: those are reported here)
            events = group.expired + group.decide(ev.Reap(command_id=command_id))
            return [e for e in events if e.type == "lease.expired"]
        before = self.log.last_seq
        self.execute(ev.Reap(command_id=command_id))
        self.refresh()
        return [ev.parse_event(r.type, r.data) for r in self.log.read(before + 1) if r.type == "lease.expired"]

    def agents(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every agent: kind, capabilities, capacity, the leases it holds, when last heard from
        (with ``now``: health and time left; see :func:`projections.views.agents`)."""
        with self._lock:
            self.refresh()
            return views.agents(self.graph, now)

    # -- queries (the shapes: projections.views) -----------------------------------
    def task(self, task: str, refresh: bool = True) -> dict[str, Any]:
        """One task as a plain dict (facts, derived state, dependencies). Raises UnknownTask.
        ``refresh=False`` skips catching up with other processes (for many calls in a row)."""
        with self._lock:
            if refresh:
                self.refresh()
            found = views.task(self.graph, task)
        if found is None:
            raise UnknownTask(task)
        return found

    def tasks(self) -> list[str]:
        with self._lock:
            self.refresh()
            return sorted(self.graph.tasks)

    def ready(self, limit: int | None = None) -> list[str]:
        """Ready task ids, best first (priority, then critical-path weight, then age).
        O(limit + log n); O(n + e) more after a change to the structure (see
        :mod:`projections.graph`)."""
        with self._lock:
            self.refresh()
            return self.graph.ready_ids(limit)

    def ready_tasks(self, limit: int | None = None, capabilities: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """:meth:`ready` with what an agent needs to choose (id, title, priority, effort,
        critical-path weight, capabilities, parent); :meth:`task` has the rest. O(limit)."""
        with self._lock:
            self.refresh()
            return views.ready(self.graph, limit, capabilities)

    def analysis(self, top: int = 10) -> dict[str, Any]:
        """Levels (what can run in parallel), the critical path by effort, the ``top``
        bottlenecks, capabilities, progress: see :mod:`projections.analysis`. O(n + e)
        plus the exact bottleneck count."""
        from projections.analysis import analyze

        with self._lock:
            self.refresh()
            return analyze(self.graph, top=top).to_dict()

    def stats(self) -> dict[str, Any]:
        """The project in numbers (:func:`projections.views.status`)."""
        with self._lock:
            self.refresh()
            return views.status(self.graph)


class Group:
    """The commands of one :meth:`Planner.group`, decided into its open transaction.

    Used by one thread (the one that opened the group), under the handle's lock.
    """

    def __init__(self, planner: Planner, tx: Any, now: float):
        self.planner, self.tx, self.now = planner, tx, now  # ``now``: the group's time, read once
        self.thread = threading.get_ident()
        self.wrote = False
        self.expired: list[Any] = []  # the lease.expired events the group opened with
        self.captured: list[tuple[str, list[Any]]] | None = None  # set to a list: (command name, events) per decision
        self._decided: dict[str, list[Any]] = {}  # command id -> its events, for a retry within the group

    def expire(self) -> None:
        """Expire every lease that has run out by the group's time (its own batch)."""
        graph = self.planner.graph
        if graph.agents.next_due(graph.lease_ttl) <= self.now:  # (O(1) when nothing can be due)
            expired = _leasing.expire(graph, self.now)
            if expired:
                self._append(expired, None)
                self.expired = expired

    def decide(self, command: Any) -> list[Any]:
        """Decide ``command`` on the state so far and buffer its events (applied to the graph at
        once, written when the group ends); return them. A command id already in the log (or
        in this group) returns the events it wrote then. Raises :class:`DomainError` (nothing
        of the command written)."""
        events = self._decide(command)
        if self.captured is not None:
            self.captured.append((type(command).__name__, events))
        return events

    def _decide(self, command: Any) -> list[Any]:
        key = command.command_id
        if key is not None:
            if key in self._decided:
                return self._decided[key]
            done = self.tx.seen(key)
            if done is not None:
                return [ev.parse_event(r.type, r.data) for r in self.planner.log.read(done.first_seq, done.last_seq)]
        stamped = command.model_copy(update={"now": self.now}) if getattr(command, "now", 0) is None else command
        events = _rules.decide(self.planner.graph, stamped)  # raises DomainError: nothing written
        if events:
            self._append(events, key)
        if key is not None:
            self._decided[key] = events
        return events

    def _append(self, events: list[Any], key: str | None) -> None:
        self.planner._apply_pending(self.tx.append([ev.encode_event(e) for e in events], idempotency_key=key),
                                    events)
        self.wrote = True
