"""The engine's operational duties, as explicit steps: periodic snapshots, the git archive's
schedule, and reaping expired leases.

None of them is needed for correctness (snapshots and the archive are derived data,
and an expired lease is also expired by whoever writes next), so each one is a step
that a caller schedules:

- the embedded engine runs :meth:`Maintenance.after_write` after each command it
  wrote (as it always has): a snapshot when one is due, and a background commit to
  the git archive when one is due;
- a long-running process (``planner serve``, the agents' supervisor) can instead run
  :meth:`Maintenance.tick` on its own clock: reap, snapshot, archive.

Every step's failure is a warning, never the command's: the command before it is
already durable.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eventstore import CorruptSnapshotWarning, EventStoreError
from planner.domain.errors import DomainError

if TYPE_CHECKING:
    from planner.engine.engine import Planner


def start_committer_process(planner: Planner) -> None:
    """Commit to the git archive in a detached process (:mod:`planner.engine.committer`), so that
    the agent whose command crossed the threshold does not wait for git either."""
    import subprocess  # (here: 2-3 ms of start-up that a query never pays)
    import sys

    subprocess.Popen([sys.executable, "-m", "planner.engine.committer", "--store", planner.log.name,
                      "--project", planner.project, "--archive-dir", str(planner.archive_dir), "commit", "--background"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)


class Maintenance:
    """When to snapshot and archive, for one planner handle.

    ``snapshot_every``: events between automatic snapshots (0: never). ``archive_every``
    events or ``archive_interval`` seconds since the last commit make a commit due (0 and 0:
    never automatically); ``start_committer`` starts one (by default a detached process;
    a long-running process may pass one that commits in a thread). The archive lives in
    ``planner.archive_dir``; a handle without one (a store without files, opened without a
    home) skips these steps.
    """

    def __init__(self, snapshot_every: int = 1000, archive_every: int = 2000, archive_interval: float = 60.0,
                 start_committer: Callable[[Planner], None] = start_committer_process,
                 clock: Callable[[], float] = time.time):
        self.snapshot_every = snapshot_every
        self.archive_every, self.archive_interval = archive_every, archive_interval
        self.start_committer = start_committer
        self.clock = clock  # for the archive's schedule (leases use the planner's own clock)
        self.last_snapshot = 0  # the newest snapshot this handle knows of
        self._mark: tuple[int, float] | None = None  # (archived seq, when) as last read
        self._claim_retry = 0.0  # a committer is on its way: look again only after this time
        self._busy = threading.Lock()  # one thread's maintenance at a time (a server's group leaders)

    # -- the schedule ------------------------------------------------------------
    def after_write(self, planner: Planner) -> None:
        """After a command that wrote events: O(1) unless a step is due. One thread at a time:
        a thread that finds another one at it skips (whatever is due stays due for the next);
        a failure is a warning (the command is durable: it must not be reported as failed)."""
        if not self._busy.acquire(blocking=False):
            return
        try:
            self.snapshot_if_due(planner)
            self.archive_if_due(planner)
        except (EventStoreError, OSError) as exc:
            warnings.warn(f"maintenance after a write failed ({exc}); the log is intact", RuntimeWarning,
                          stacklevel=2)
        finally:
            self._busy.release()

    def tick(self, planner: Planner) -> list[Any]:
        """For a long-running process, on its own clock: expire the leases that ran out
        (returns the ``lease.expired`` events), then the steps of :meth:`after_write`."""
        graph = planner.graph
        due = graph.agents.next_due(graph.lease_ttl) <= planner.clock()  # O(1): most ticks reap nothing
        expired = planner.reap() if due else []
        self.after_write(planner)
        return expired

    # -- snapshots ---------------------------------------------------------------
    def snapshot_if_due(self, planner: Planner) -> None:
        """Snapshot when ``snapshot_every`` events passed since the newest snapshot of the
        project, whoever wrote it: with 20 processes folding the same events, one of them
        snapshots, not all 20 (the snapshot list is read only when due, then a claim on the
        next snapshot that only one process wins: ``Store.claim_snapshot``)."""
        if not self.snapshot_every:
            return
        seq = planner.graph.seq
        since = max(self.last_snapshot, planner.loaded_from_snapshot)
        if seq - since < self.snapshot_every:
            return
        store = planner.log
        newest = max(store.snapshot_seqs(), default=0)  # another process may have just written one
        if seq - newest < self.snapshot_every:
            self.last_snapshot = newest
            return
        if not store.claim_snapshot(newest):  # another process crossed the mark too and writes it
            self.last_snapshot = seq
            return
        try:
            planner.snapshot()
        except (EventStoreError, OSError) as exc:
            store.release_snapshot(newest)  # so that another process may try
            self.last_snapshot = seq  # try again an interval later, not on every command
            warnings.warn(f"could not write the periodic snapshot ({exc}); the log is intact, opening will "
                          "replay more of it", CorruptSnapshotWarning, stacklevel=3)

    # -- the git archive -----------------------------------------------------------
    @staticmethod
    def marks(planner: Planner) -> Any:
        """The archive's schedule files (:class:`eventstore.archive_marks.ArchiveMarks`), or None
        when the store has no git archive."""
        path = planner.archive_dir
        if path is None:
            return None
        from eventstore.archive_marks import ArchiveMarks

        path.mkdir(parents=True, exist_ok=True)  # (a home's archives/<project> is made on first use)
        return ArchiveMarks(path)

    def archive_if_due(self, planner: Planner) -> None:
        """Start a commit when one is due. The mark is read again only when the last reading
        says a commit is due (no file I/O on most commands)."""
        if not (self.archive_every or self.archive_interval):
            return
        if self._mark is not None and not self._due(planner.graph.seq, *self._mark):
            return
        if self._claim_retry > self.clock():
            return
        marks = self.marks(planner)
        if marks is None:
            return
        self._mark = marks.read()  # (someone may have committed since we looked)
        if not self._due(planner.graph.seq, *self._mark):
            return
        if not marks.claim_committer():
            self._claim_retry = self.clock() + 1.0  # a commit takes ~0.1 s or more: no use asking on every command
            return
        try:
            self.start_committer(planner)
        except OSError as exc:
            marks.release_committer()
            warnings.warn(f"could not start the git archive's committer ({exc}); the log is intact",
                          RuntimeWarning, stacklevel=3)

    def _due(self, seq: int, archived: int, when: float) -> bool:
        behind = seq - archived
        return behind > 0 and bool((self.archive_every and behind >= self.archive_every)
                                   or (self.archive_interval and self.clock() - when >= self.archive_interval))

    def archive_behind(self, planner: Planner) -> bool:
        """Whether the archive lacks events this handle has seen (for a clean shutdown)."""
        marks = self.marks(planner)
        return marks is not None and planner.graph.seq > marks.read()[0]


def commit_archive(planner: Planner, force: bool = True) -> Any:
    """Commit what is not archived yet to the project's git archive (one commit: events and a
    rendering of the state at its last seq); None when there is nothing new or another process
    is committing right now. Never holds the log's append lock. A store without files (PostgreSQL)
    is archived in ``planner.archive_dir``, read through the storage protocol."""
    from eventstore.archive import Archive
    from planner.engine.archiving import StateRenderer, describe

    planner.refresh()
    renderer = StateRenderer(lambda: planner.graph)

    def render(records: list[Any]) -> dict[str, bytes]:
        planner.fold(records)  # the batch may end past what we folded: render its last state
        return renderer(records)

    if planner.archive_dir is None:
        raise DomainError(f"project {planner.project!r} is kept in {getattr(planner.log, 'where', planner.log.name)} "
                          "and opened without a home: there is no directory to keep its git archive in")
    with Archive(planner.log, render=render, describe=describe, directory=planner.archive_dir) as archive:
        info = archive.commit(force=force)
        archived = info.last_seq if info is not None else archive.archived_seq()
    marks = Maintenance.marks(planner)
    if marks is not None:
        marks.write(archived)
    return info


def archive_quietly(planner: Planner) -> None:
    """:func:`commit_archive` after durable commands: a failure is a warning, never theirs."""
    try:
        commit_archive(planner, force=True)
    except (EventStoreError, OSError) as exc:
        warnings.warn(f"could not commit to the git archive ({exc}); the log is intact and a later "
                      "commit will include these events", RuntimeWarning, stacklevel=3)

