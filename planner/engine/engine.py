"""The Planner: every command is one read-decide-append step on the project's log.

::

    execute(command):
        with log.transaction() as tx:          # the append lock: decisions see the latest state
            fold tx.records into the graph     # what other processes appended since
            if the command's id is in the log: return its original result (a retry)
            events = decide(graph, command)    # pure; raises DomainError, writing nothing
            tx.append(events, idempotency_key=command.command_id)
        fold our own events                    # after the flush: acknowledged means durable

Queries (``task``, ``tasks``, ``ready``, ``stats``) first fold whatever other
processes appended, lock-free. Folding is idempotent by seq, so no record is
ever applied twice. Layout of a planner home::

    <home>/projects/<project>/   one event log (see eventstore) per project
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from eventstore import CorruptSnapshotWarning, EventLog, EventStoreError, LogNotFoundError, Record
from projections.bulk import gc_paused
from projections.graph import TaskGraph

from .errors import DomainError, ProjectNotFound, UnknownTask
from .trusted import fold_event


class _OnFirstUse:
    """A module imported when first used: the events and rules bring in pydantic
    (~70 ms), which a query answered from a snapshot never needs."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import importlib

        value = getattr(importlib.import_module(self._name, __package__), attr)
        setattr(self, attr, value)  # found in the instance from now on: __getattr__ runs once per name
        return value


ev: Any = _OnFirstUse(".events")
_rules: Any = _OnFirstUse(".decide")
_leasing: Any = _OnFirstUse(".leasing")


class Planner:
    """One project, opened by one process (open one per process; they coordinate through the log)."""

    def __init__(self, log: EventLog, project: str, snapshot_every: int = 1000,
                 clock: Callable[[], float] = time.time, archive_every: int = 2000, archive_interval: float = 60.0):
        self.log = log
        # the git archive: committed by the writer that sees `archive_every` events, or
        # `archive_interval` seconds, since the last commit (0: never automatically)
        self.archive_every, self.archive_interval = archive_every, archive_interval
        self._mark: tuple[int, float] | None = None  # (archived seq, when) as last read
        self._wrote = False
        self.clock = clock  # seconds since the epoch; the only clock the planner reads (tests pass their own)
        self.project = project
        self.graph = TaskGraph()
        self.graph.index.defer_reach()  # built by the first cycle check: a replay never needs it
        self.snapshot_every = snapshot_every  # events between automatic snapshots (0: never)
        self.loaded_from_snapshot = 0  # the seq of the snapshot this handle started from, if any
        self._last_snapshot = 0
        self._cursor = None  # where refresh() reads on from (opened after the snapshot is loaded)
        self.journal: Any = None  # planner.journal.Journal: acknowledged commands, when asked for

    @classmethod
    def open(cls, home: os.PathLike | str, project: str, create: bool = False, snapshot_every: int = 1000,
             max_depth: int = 8, description: str = "", lease_ttl: float = 300.0, max_attempts: int = 3,
             clock: Callable[[], float] = time.time, archive_every: int = 2000, archive_interval: float = 60.0,
             journal: os.PathLike | str | None = None, **log_options: Any) -> Planner:
        """Open project ``project`` under ``home``; with ``create``, make it if missing
        (``max_depth``, ``description``, ``lease_ttl`` in seconds and ``max_attempts``
        apply only then). ``clock`` is the time source for leases (tests pass their own).
        ``journal``: a file to which every acknowledged command is appended, with the
        events it wrote (:mod:`planner.journal`; the stress runners verify it).

        Starts from the newest usable snapshot and folds only the events after
        it: O(tasks + edges + tail) instead of O(all events).
        """
        if not project or "/" in project or project.startswith("."):
            raise DomainError(f"{project!r} is not a project name: use letters, digits, '-', '_' and '.'")
        path = Path(home) / "projects" / project
        try:
            log = EventLog.open(path, create=create, **log_options)
        except LogNotFoundError:
            raise ProjectNotFound(project, os.fspath(home)) from None
        planner = cls(log, project, snapshot_every, clock, archive_every, archive_interval)
        if journal is not None:
            from .journal import Journal

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
        """Load the newest snapshot the log still covers, and open the tail cursor after
        it (neither decodes the records the snapshot covers); a snapshot that cannot
        be used means a full replay, and a warning."""
        snap, cursor = self.log.snapshot_and_tail()
        if snap is not None and snap.seq > self.graph.seq:
            try:
                graph = TaskGraph.from_snapshot(orjson.loads(snap.data))
                if graph.seq != snap.seq:
                    raise ValueError(f"it describes seq {graph.seq}, its file says {snap.seq}")
            except (ValueError, KeyError, TypeError) as exc:
                warnings.warn(f"snapshot {snap.path} is not usable ({exc}): replaying the whole log",
                              CorruptSnapshotWarning, stacklevel=3)
            else:
                self.graph, self.loaded_from_snapshot, self._cursor = graph, snap.seq, cursor
                self.log.resume(snap.seq, snap.position)  # our writes never re-read what it covers
                return
        cursor.close()

    def snapshot(self) -> int:
        """Save the projections now (derived data: safe to delete); return the seq they describe."""
        self.refresh()
        seq = self.graph.seq
        with gc_paused():
            data = orjson.dumps(self.graph.to_snapshot())
        self.log.save_snapshot(seq, data)
        self.log.prune_snapshots(keep=3)
        self._last_snapshot = seq
        return seq

    def _maybe_snapshot(self) -> None:
        """Snapshot when ``snapshot_every`` events passed since the newest snapshot of the
        project, whoever wrote it: with 20 processes folding the same events, one of them
        snapshots, not all 20 (a listing of the snapshot directory, only when due, then a
        claim on the next snapshot that only one process wins: SnapshotStore.claim). The
        command before it is already durable, so a snapshot that cannot be written (a full
        disk) is a warning, never the command's failure."""
        if not self.snapshot_every:
            return
        since = max(self._last_snapshot, self.loaded_from_snapshot)
        if self.graph.seq - since < self.snapshot_every:
            return
        newest = max(self.log.snapshots.seqs(), default=0)  # another process may have just written one
        if self.graph.seq - newest < self.snapshot_every:
            self._last_snapshot = newest
            return
        if not self.log.snapshots.claim(newest):  # another process crossed the mark too and writes it
            self._last_snapshot = self.graph.seq
            return
        try:
            self.snapshot()
        except (EventStoreError, OSError) as exc:
            self.log.snapshots.release(newest)  # so that another process may try
            self._last_snapshot = self.graph.seq  # try again an interval later, not on every command
            warnings.warn(f"could not write the periodic snapshot ({exc}); the log is intact, opening will "
                          "replay more of it", CorruptSnapshotWarning, stacklevel=3)

    def close(self, archive: bool = False) -> None:
        """Close the project. With ``archive`` (a long-running process shutting down cleanly,
        e.g. the supervisor of ``planner work``), first commit to the git archive what this
        handle wrote and is not archived yet. (Not by default: a one-command process such
        as the CLI would otherwise make a commit per command and defeat the batching.)"""
        if archive:
            self.refresh()
            if self.graph.seq > self._archive_mark()[0]:
                self._archive_quietly()
        if self._cursor is not None:
            self._cursor.close()
        if self.journal is not None:
            self.journal.close()
        self.log.close()

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the git archive (eventstore.archive; what goes in: planner.archiving) ---------
    def archive(self, force: bool = True) -> Any:
        """Commit what is not archived yet to the project's git archive (one commit, events
        and a rendering of the state at its last seq); None when there is nothing new or
        another process is committing right now. Never holds the log's lock."""
        from eventstore.archive import Archive

        from .archiving import StateRenderer, describe

        self.refresh()
        renderer = StateRenderer(lambda: self.graph)

        def render(records: list[Any]) -> dict[str, bytes]:
            self._fold(records)  # the batch may end past what we folded: render its last state
            return renderer(records)

        with Archive(self.log, render=render, describe=describe) as archive:
            info = archive.commit(force=force)
            archived = info.last_seq if info is not None else archive.archived_seq()
        self._write_archive_mark(archived)
        return info

    def _archive_mark_path(self) -> Path:
        return Path(self.log.path) / "archive.seq"

    def _archive_mark(self) -> tuple[int, float]:
        """(last archived seq, when) from a one-line sidecar file, read without git."""
        path = self._archive_mark_path()
        try:
            return int(path.read_text().strip() or 0), path.stat().st_mtime
        except (FileNotFoundError, ValueError):
            self._write_archive_mark(0)  # the interval counts from the first time anyone looked
            return 0, time.time()

    def _write_archive_mark(self, seq: int) -> None:
        from eventstore.fsutil import atomic_write

        atomic_write(self._archive_mark_path(), f"{seq}\n".encode())

    def _maybe_archive(self) -> None:
        """After a command: start a commit when one is due. The archive mark is read again
        only when the last reading says a commit is due (no file I/O on most commands)."""
        if not (self.archive_every or self.archive_interval):
            return
        if self._mark is None or self._archive_due(*self._mark):
            self._mark = self._archive_mark()  # (someone may have committed since we looked)
            if self._archive_due(*self._mark):
                self._archive_in_background()

    def _archive_due(self, archived: int, when: float) -> bool:
        behind = self.graph.seq - archived
        return behind > 0 and ((self.archive_every and behind >= self.archive_every)
                               or (self.archive_interval and time.time() - when >= self.archive_interval))

    #: a background committer older than this is presumed dead: another may start
    COMMITTER_STALE_S = 120.0

    def _archive_in_background(self) -> None:
        """Start ``planner commit`` as a detached process, so that the agent whose command
        crossed the threshold does not wait for git either. At most one is started at a
        time across processes: ``archive.pending`` is created exclusively (O_EXCL) by the
        starter and removed by the committer; one older than :attr:`COMMITTER_STALE_S`
        (its committer died) is taken over."""
        import subprocess
        import sys

        pending = Path(self.log.path) / "archive.pending"
        try:
            fd = os.open(pending, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - pending.stat().st_mtime < self.COMMITTER_STALE_S:
                    return  # one is on its way
                os.utime(pending)  # a stale claim: take it over
            except FileNotFoundError:
                return  # it just finished
        else:
            os.close(fd)
        home = Path(self.log.path).parent.parent
        try:
            subprocess.Popen([sys.executable, "-m", "planner", "--home", os.fspath(home), "--project", self.project,
                              "commit", "--background"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        except OSError as exc:
            pending.unlink(missing_ok=True)
            warnings.warn(f"could not start the git archive's committer ({exc}); the log is intact",
                          RuntimeWarning, stacklevel=3)

    def _archive_quietly(self) -> None:
        """Archive after a durable command: a failure is a warning, never the command's."""
        try:
            self.archive(force=True)
        except (EventStoreError, OSError) as exc:
            warnings.warn(f"could not commit to the git archive ({exc}); the log is intact and a later "
                          "commit will include these events", RuntimeWarning, stacklevel=3)

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
        if self.journal is not None:
            return self._execute_journaled(command)
        timed = getattr(command, "now", 0) is None  # the engine says when it is
        while True:
            expired: list[Any] = []
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
                    result = tx.append([ev.encode_event(e) for e in events], idempotency_key=command.command_id)
            if expired:  # written and folded; now the command itself, on the state after them
                self._fold_own(result.first_seq, expired)
                continue
            self._fold_own(result.first_seq, events)
            self._wrote = True
            self._maybe_snapshot()
            self._maybe_archive()
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

    def execute_events(self, events: list[Any], only_if_empty: bool = False) -> None:
        """Append events decided elsewhere (project creation, imports), folding them in."""
        with self.log.transaction() as tx:
            self._fold(tx.records)
            if only_if_empty and tx.last_seq:
                return
            result = tx.append([ev.encode_event(e) for e in events])
        self._fold_own(result.first_seq, events)
        self._maybe_snapshot()

    def refresh(self) -> None:
        """Fold what other processes appended since (lock-free). O(new records)."""
        if self._cursor is None:
            self._cursor = self.log.tail(self.graph.seq + 1)
        self._fold(self._cursor.poll())

    def _fold(self, records: Iterable[Record]) -> None:
        graph = self.graph
        for record in records:
            if record.seq > graph.seq:  # idempotent: a record is applied once
                graph.apply(record.seq, fold_event(record.type, record.data))

    def _fold_own(self, first_seq: int, events: list[Any]) -> None:
        for offset, event in enumerate(events):
            self.graph.apply(first_seq + offset, event)

    # -- commands, as methods --------------------------------------------------
    def add_task(self, title: str, id: str | None = None, parent: str | None = None,  # noqa: A002 - the spec's name
                 depends_on: Iterable[str] = (), priority: str = "medium", effort: float = 1.0,
                 capabilities: Iterable[str] = (), description: str = "", metadata: dict | None = None,
                 verify_command: str | None = None, command_id: str | None = None) -> str:
        """Add a task; return its id (generated as ``T<n>`` when not given)."""
        events = self.execute(ev.AddTask(
            id=id, title=title, parent=parent, depends_on=tuple(depends_on), priority=priority, effort=effort,
            capabilities=tuple(capabilities), description=description, metadata=metadata or {},
            verify_command=verify_command, command_id=command_id,
        ))
        return events[0].id

    def add_dependency(self, task: str, depends_on: str, command_id: str | None = None) -> None:
        self.execute(ev.AddDependency(task=task, depends_on=depends_on, command_id=command_id))

    def remove_dependency(self, task: str, depends_on: str, command_id: str | None = None) -> None:
        self.execute(ev.RemoveDependency(task=task, depends_on=depends_on, command_id=command_id))

    def transition(self, task: str, state: str, reason: str | None = None, by: str | None = None,
                   token: int | None = None, command_id: str | None = None) -> None:
        """Change a task's state; a leased task needs its lease's ``token`` (else
        :class:`~planner.errors.StaleLease`). On a leased task, completed and cancelled
        release the lease; failed (and pending) release it too and send the task back to
        pending while it has attempts left."""
        self.execute(ev.Transition(id=task, to_state=state, reason=reason, by=by, token=token,
                                   command_id=command_id))

    def edit_task(self, task: str, command_id: str | None = None, **changes: Any) -> None:
        self.execute(ev.EditTask(id=task, command_id=command_id, **changes))

    def move_task(self, task: str, parent: str | None, command_id: str | None = None) -> None:
        self.execute(ev.MoveTask(id=task, parent=parent, command_id=command_id))

    def set_mode(self, mode: str, reason: str | None = None, command_id: str | None = None) -> None:
        self.execute(ev.SetMode(mode=mode, reason=reason, command_id=command_id))

    def checkpoint(self, task: str, notes: str = "", data: dict | None = None, by: str | None = None,
                   token: int | None = None, command_id: str | None = None) -> None:
        """Save notes or data mid-task (kept when the task changes hands), with the lease's token."""
        self.execute(ev.RecordCheckpoint(id=task, notes=notes, data=data or {}, by=by, token=token,
                                         command_id=command_id))

    # -- agents and leases (rules: planner.leasing) -------------------------------
    def register_agent(self, agent_id: str, capabilities: Iterable[str] = (), capacity: int = 1,
                       kind: str = "ai", command_id: str | None = None) -> None:
        self.execute(ev.RegisterAgent(agent=agent_id, capabilities=tuple(capabilities), capacity=capacity,
                                      kind=kind, command_id=command_id))

    def deregister_agent(self, agent_id: str, reason: str | None = None, command_id: str | None = None) -> None:
        """Remove an agent; the tasks it holds go back to pending (no attempt used up)."""
        self.execute(ev.DeregisterAgent(agent=agent_id, reason=reason, command_id=command_id))

    def heartbeat(self, agent_id: str, command_id: str | None = None) -> None:
        """Say the agent is alive (written at most once per half lease TTL)."""
        self.execute(ev.Heartbeat(agent=agent_id, command_id=command_id))

    def claim(self, agent_id: str, task: str | None = None, ttl: float | None = None,
              command_id: str | None = None) -> Any:
        """Lease the best ready task ``agent_id`` can do (or ``task``): the ``task.assigned``
        event (``id``, ``token``, ``expires_at``, ``attempt``), or None when nothing fits."""
        events = self.execute(ev.Claim(agent=agent_id, task=task, ttl=ttl, command_id=command_id))
        return next((e for e in events if e.type == "task.assigned" and e.agent == agent_id), None)

    def renew(self, task: str, token: int, ttl: float | None = None, command_id: str | None = None) -> None:
        self.execute(ev.Renew(id=task, token=token, ttl=ttl, command_id=command_id))

    def release(self, task: str, token: int, reason: str | None = None, command_id: str | None = None) -> None:
        """Give a leased task back to pending (its checkpoint stays for the next agent)."""
        self.execute(ev.Release(id=task, token=token, reason=reason, command_id=command_id))

    def assign(self, agents: Iterable[str] | None = None, ttl: float | None = None,
               command_id: str | None = None) -> list[Any]:
        """Hand ready tasks to the available agents in one batch (see :func:`planner.leasing.assign`);
        return the ``task.assigned`` events."""
        events = self.execute(ev.Assign(agents=tuple(agents) if agents is not None else None, ttl=ttl,
                                        command_id=command_id))
        return [e for e in events if e.type == "task.assigned"]

    def reap(self) -> list[Any]:
        """Expire every lease that has run out; return the ``lease.expired`` events written."""
        before = self.log.last_seq
        self.execute(ev.Reap())
        self.refresh()
        return [ev.parse_event(r.type, r.data) for r in self.log.read(before + 1) if r.type == "lease.expired"]

    def agents(self) -> list[dict[str, Any]]:
        """Every agent: kind, capabilities, capacity, the leases it holds, when last heard from."""
        self.refresh()
        board = self.graph.agents
        return [{"id": a.id, "kind": a.kind, "capabilities": sorted(a.capabilities), "capacity": a.capacity,
                 "active": a.active, "last_seen": a.last_seen,
                 "leases": [board.leases[t].to_dict() for t in sorted(a.held)],
                 "effort_held": sum(self.graph.tasks[t].effort for t in a.held)}
                for a in sorted(board.agents.values(), key=lambda a: a.id)]

    # -- queries -----------------------------------------------------------------
    def task(self, task: str, refresh: bool = True) -> dict[str, Any]:
        """One task as a plain dict (facts, derived state, dependencies). Raises UnknownTask.
        ``refresh=False`` skips catching up with other processes (for many calls in a row)."""
        if refresh:
            self.refresh()
        node = self.graph.tasks.get(task)
        if node is None:
            raise UnknownTask(task)
        index = self.graph.index
        return {
            "id": node.id, "title": node.title, "description": node.description, "parent": node.parent,
            "children": sorted(index.children[task]), "priority": node.priority, "effort": node.effort,
            "capabilities": list(node.capabilities), "metadata": node.metadata,
            "verify_command": node.verify_command, "state": str(node.state),
            "ready": self.graph.is_ready(node), "done": node.done,
            "depends_on": sorted(index.depends_on[task]), "dependents": sorted(index.dependents[task]),
            "checkpoint": node.checkpoint,
            "lease": lease.to_dict() if (lease := self.graph.agents.leases.get(task)) is not None else None,
            "attempts": self.graph.agents.attempts.get(task, 0),
        }

    def tasks(self) -> list[str]:
        self.refresh()
        return sorted(self.graph.tasks)

    def ready(self, limit: int | None = None) -> list[str]:
        """Ready task ids, best first (priority, then critical-path weight, then age).
        O(limit + log n); O(n + e) more after a change to the structure (see
        :mod:`projections.graph`)."""
        self.refresh()
        return self.graph.ready_ids(limit)

    def ready_tasks(self, limit: int | None = None) -> list[dict[str, Any]]:
        """:meth:`ready` with what an agent needs to choose (id, title, priority, effort,
        critical-path weight, capabilities, parent); :meth:`task` has the rest. O(limit)."""
        nodes = self.graph.tasks
        return [{"id": t, "title": n.title, "priority": n.priority, "effort": n.effort, "weight": n.weight,
                 "capabilities": list(n.capabilities), "parent": n.parent}
                for t in self.ready(limit) for n in (nodes[t],)]

    def analysis(self, top: int = 10) -> dict[str, Any]:
        """Levels (what can run in parallel), the critical path by effort, the ``top``
        bottlenecks, capabilities, progress: see :mod:`projections.analysis`. O(n + e)
        plus the exact bottleneck count."""
        from projections.analysis import analyze

        self.refresh()
        return analyze(self.graph, top=top).to_dict()

    def stats(self) -> dict[str, Any]:
        self.refresh()
        graph = self.graph
        return {
            "project": graph.name, "mode": graph.mode, "seq": graph.seq, "tasks": len(graph.tasks),
            "max_depth": graph.max_depth,
            "leaves_by_state": {str(state): n for state, n in sorted(graph.counts.items()) if n},
            "ready": len(graph.ready),
        }
