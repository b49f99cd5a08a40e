"""The storage protocol: what the planner needs from a project's log, whatever keeps it.

A *store* holds one append-only log of records per project. The planner's engine
depends on :class:`Store` and nothing else of :mod:`eventstore`; each backend
implements it and passes the one conformance suite (``tests/conformance``):

=========  ===============================================  =======================
backend    named by                                         class
=========  ===============================================  =======================
files      a directory path, or ``file:PATH``               :class:`~eventstore.log.EventLog`
           (one log directory per project under it)
postgres   ``postgresql://user@host/db?schema=NAME``        :class:`~eventstore.postgres.store.PostgresStore`
           (one schema, every project's rows in its tables)
=========  ===============================================  =======================

:func:`open_store` picks the backend from the name. Powers that only files have
(repair, segments, quarantine, restoring a damaged log in place) stay on
:class:`~eventstore.log.EventLog` and are reached only by code that is about files. The
git archive (:mod:`eventstore.archive`) reads any store through this protocol.

The guarantees every backend gives (the conformance suite checks each one):

- **Contiguous**: seqs run 1, 2, 3... with no gap; ``last_seq`` is the last one.
- **Atomic batches**: one ``append`` (or one transaction) is seen by readers whole or
  not at all, in every read, tail and follow.
- **Serialised**: a transaction holds the project's append lock from the moment it
  hands over ``records`` (everything not seen yet) until its appends are written, so
  a read-decide-append step never loses an update, across threads and processes.
- **Exactly once with keys**: an append whose idempotency key is already in the log
  writes nothing and returns the original :class:`~eventstore.log.AppendResult`
  (``duplicate=True``); ``Transaction.seen(key)`` says so before deciding.
- **Durable when acknowledged**: ``append`` and a transaction's ``with`` return only
  once the records are as durable as the backend's durability setting promises; a
  transaction opened with ``defer_flush=True`` instead leaves that to its
  ``flush()``, called after the block (a server decides the next group meanwhile).
- **Timestamps follow seq**: ``ts`` is stamped under the lock, never earlier than the
  previous record's.
- **Snapshots are derived**: opaque bytes describing the state after a seq; a damaged
  one, or one the log no longer reaches, is skipped with a
  :class:`~eventstore.snapshots.CorruptSnapshotWarning`, never trusted over the log.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidArgumentError
from .postgres.names import is_postgres
from .record import Record

#: longest project name (it becomes a file name, and a key in other backends)
MAX_PROJECT_NAME = 100


class Cursor(Protocol):
    """A resumable, lock-free reader (:meth:`Store.tail`)."""

    next_seq: int  # the seq the next poll starts from

    def poll(self) -> Iterator[Record]:
        """The whole batches appended since the last poll. O(new records)."""
        ...

    def close(self) -> None: ...


class Transaction(Protocol):
    """One read-decide-append step under the project's append lock (:meth:`Store.transaction`)."""

    records: list[Record]  # what this handle had not been shown yet, in seq order

    @property
    def last_seq(self) -> int:
        """The log's end, counting this transaction's buffered appends."""
        ...

    def seen(self, idempotency_key: str) -> Any:
        """The :class:`~eventstore.log.AppendResult` of the append made with this key, or None. O(1)."""
        ...

    def append(self, events: Iterable[Mapping[str, Any]], expected_seq: int | None = None,
               idempotency_key: str | None = None) -> Any:
        """Buffer a batch (written with the others, as one batch, when the block exits)."""
        ...

    def flush(self) -> None:
        """Make what the transaction wrote durable (after its block; see ``defer_flush``).
        Idempotent; a no-op when it wrote nothing or its block already flushed."""
        ...


@runtime_checkable
class Store(Protocol):
    """One project's log; see the module docstring for the guarantees."""

    name: str  # the store's name, as :func:`open_store` takes it

    @property
    def last_seq(self) -> int:
        """The seq of the last complete record (0 when empty). Lock-free."""
        ...

    def transaction(self, since: int | None = None, defer_flush: bool = False) -> AbstractContextManager[Transaction]:
        """Hold the append lock for one step; the appends are written, and made durable, on exit.
        An exception inside the block discards them (all or nothing). With ``defer_flush``, the
        exit writes and unlocks but does not flush: other transactions may be decided and written
        meanwhile, and readers may see the records, but nothing may be acknowledged before the
        transaction's ``flush()`` returns (a later flush covers every earlier write)."""
        ...

    def append(self, events: Iterable[Mapping[str, Any]], expected_seq: int | None = None,
               idempotency_key: str | None = None) -> Any:
        """Append one batch atomically; :class:`~eventstore.errors.ConcurrencyConflict` unless
        the log ends at ``expected_seq`` (when given); a known key writes nothing."""
        ...

    def read(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Record]:
        """Records ``from_seq..to_seq`` (inclusive). Lock-free. O(records read)."""
        ...

    def catch_up(self) -> list[Record]:
        """What others appended that this handle has not handed over yet, read without the lock;
        the next transaction's ``records`` start after them. Lets a writer fold before locking."""
        ...

    def tail(self, from_seq: int = 1) -> Cursor:
        """A cursor whose polls yield what was appended from ``from_seq`` on."""
        ...

    def follow(self, from_seq: int = 1, timeout: float | None = None, stop_event: Any = None) -> Iterator[Record]:
        """Records from ``from_seq`` on, waiting for new ones (no polling); ends after ``timeout``
        seconds without one, or once ``stop_event.is_set()``."""
        ...

    def start(self) -> tuple[Any, Cursor]:
        """How a reader starts fast: the newest intact snapshot the log still reaches (or None),
        and a cursor right after it (from seq 1 without one)."""
        ...

    def resume(self, snapshot: Any) -> None:
        """Tell a fresh handle that its caller holds the state up to ``snapshot.seq``: its first
        transaction hands over only the records after it. Idempotency stays exact."""
        ...

    def save_snapshot(self, seq: int, data: bytes) -> Any: ...

    def load_snapshot(self, max_seq: int | None = None) -> Any:
        """The newest intact snapshot at or before ``max_seq`` (and the log's end), or None."""
        ...

    def snapshot_seqs(self) -> list[int]:
        """The seqs of the snapshots present (not yet checked), ascending."""
        ...

    def claim_snapshot(self, after: int) -> bool:
        """Be the one writer of the snapshot that follows snapshot ``after``: True for one caller
        at a time (a claim whose holder died is taken over)."""
        ...

    def release_snapshot(self, after: int) -> None:
        """Give up a claim that was not used (the snapshot could not be written)."""
        ...

    def prune_snapshots(self, keep: int = 3) -> list[int]: ...

    def verify(self) -> Any:
        """Check every record; a :class:`~eventstore.verify.VerifyReport` of every problem."""
        ...

    def close(self) -> None: ...


def check_project_name(project: str) -> None:
    """A project name is 1..100 of ASCII letters, digits, ``-``, ``_`` and ``.``, not starting
    with ``.``: it names a directory here and a key elsewhere. Raises InvalidArgumentError."""
    if (not isinstance(project, str) or not project or len(project) > MAX_PROJECT_NAME or project[0] == "."
            or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in project)):
        shown = project if not isinstance(project, str) or len(project) <= 40 else project[:40] + "..."
        raise InvalidArgumentError(f"{shown!r} is not a project name: use 1 to {MAX_PROJECT_NAME} ASCII letters, "
                                   "digits, '-', '_' and '.', not starting with '.'")


def file_root(name: os.PathLike | str) -> Path:
    """The directory a file store's name points at (``file:PATH`` or a plain path)."""
    text = os.fspath(name)
    return Path(text[len("file:"):] if text.startswith("file:") else text)


def open_store(name: os.PathLike | str, project: str, create: bool = False, **options: Any) -> Store:
    """Open project ``project``'s log in the store named ``name``; with ``create``, make it if
    missing. ``options`` go to the backend (for files: durability, segment_bytes, ...).

    Raises :class:`~eventstore.errors.LogNotFoundError` when the project does not exist,
    :class:`~eventstore.errors.InvalidArgumentError` for a bad name or an unknown backend.
    """
    check_project_name(project)
    text = os.fspath(name)
    scheme = text.partition(":")[0] if ":" in text and not text.startswith("/") else ""
    if scheme in ("", "file") or len(scheme) == 1:  # (a Windows drive letter is a path)
        from .log import EventLog

        return EventLog.open(file_root(text) / project, create=create, **options)
    if is_postgres(text):  # psycopg is imported only now: the file store never needs it
        from .postgres import backend

        return backend().open(text, project, create=create, **options)
    raise InvalidArgumentError(f"unknown store {text!r}: use a directory path, file:PATH or postgresql://...")


def list_projects(name: os.PathLike | str) -> list[str]:
    """The projects in the store named ``name``, sorted. O(projects)."""
    if is_postgres(os.fspath(name)):
        from .postgres import list_postgres_projects

        return list_postgres_projects(os.fspath(name))
    root = file_root(name)
    if not root.is_dir():
        return []
    from .log import META_NAME

    return sorted(p.name for p in root.iterdir() if (p / META_NAME).is_file())


__all__ = ["Cursor", "Store", "Transaction", "check_project_name", "file_root", "list_projects", "open_store"]
