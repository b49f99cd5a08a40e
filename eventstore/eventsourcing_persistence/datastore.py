"""Datastore: one project's log (any :class:`~eventstore.store.Store`) and its in-memory index.

Every recorder of one project in one process shares a Datastore (the factory keeps them),
so the log is read once and the index kept once. Guarantees:

- **Checked under our lock.** An insert is one :meth:`Store.transaction`: holding the
  project's append lock (flock for files, the project row for PostgreSQL), it catches the
  index up with what every other process appended, refuses an (originator id, version)
  already recorded or a tracking position not above the recorded one (the library's
  ``IntegrityError``, nothing written), then appends the insert as one batch. So
  optimistic concurrency holds across threads *and* processes, and an insert with a
  tracking position is recorded exactly once, atomically with its events.
- **Notification ids are seqs**: contiguous while only stored events are written; a
  tracking position recorded without events takes a seq that is no notification.
- **Durable when it returns**, per the store's durability; the flush runs after the lock
  is released, and one flush serves every thread that wrote meanwhile (:mod:`.flushing`).
- **Reads are lock-free for the log**: each read first catches the index up (O(new
  records): an fstat for files, one query for PostgreSQL), then answers from memory.
- **Waiting is on the store's follow** (inotify/FSEvents for files, LISTEN/NOTIFY for
  PostgreSQL): one follower thread per Datastore while anyone listens; never polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Tracking,
)

from ..errors import EventStoreError, InvalidArgumentError, InvalidEventError
from ..store import Store, open_store
from .codec import encode
from .flushing import FlushGroup
from .index import LogIndex

log = logging.getLogger("eventstore.eventsourcing")


@contextmanager
def translated() -> Iterator[None]:
    """Our store's errors as the library's (PEP 249 names), keeping the message and the cause."""
    try:
        yield
    except InvalidEventError as exc:  # a state or topic the record format cannot hold
        raise DataError(str(exc)) from exc
    except InvalidArgumentError as exc:  # a bad store name or project name
        raise ProgrammingError(str(exc)) from exc
    except EventStoreError as exc:  # missing log, lock timeout, disk full, lost connection...
        raise OperationalError(str(exc)) from exc


class Datastore:
    """One project's log and its :class:`LogIndex`; see the module docstring."""

    def __init__(self, name: str, project: str, *, create: bool = True, **options: Any):
        self.name = name
        self.project = project
        with translated():
            self.store: Store = open_store(name, project, create=create, **options)
        self.index = LogIndex()
        self._lock = threading.Lock()  # guards the index and the handle's catch-up state
        # (gathering writers for a flush pays only where the flush is a real one)
        self._flushes = FlushGroup() if getattr(self.store, "durability", "always") == "always" else FlushGroup(0)
        self._listeners: set[threading.Event] = set()
        self._listeners_lock = threading.Lock()
        self._stop_following: threading.Event | None = None
        self._follower: threading.Thread | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<Datastore {self.store.name} project {self.project!r}>"

    # -- reading --------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[LogIndex]:
        """The index, caught up with everything committed so far. O(new records)."""
        with self._lock:
            self._check_open()
            with translated():
                self.index.apply(self.store.catch_up())
            yield self.index

    # -- writing --------------------------------------------------------------------------
    def write(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None = None) -> int | None:
        """Record ``stored_events`` (and ``tracking``) as one batch; the seq of the first record,
        or None when there was nothing to write. IntegrityError (nothing written) on a
        recorded version or a tracking position not above the recorded one. O(batch)
        plus the records others appended since this process last looked."""
        if not stored_events and tracking is None:
            return None
        self._flushes.begin()
        number = None
        try:
            records = encode(stored_events, tracking)  # serialised before the lock
            with translated(), self._lock:
                self._check_open()
                with self.store.transaction(defer_flush=True) as tx:
                    self.index.apply(tx.records)
                    problem = self.index.conflict(stored_events, tracking)
                    if problem is not None:
                        raise IntegrityError(problem)  # (leaving the block discards the transaction)
                    first = tx.append(records).first_seq
                self.index.add(first, stored_events, tracking)  # own appends are not handed back
                number = self._flushes.written(tx)  # under our lock: the group sees writes in order
        except BaseException:
            if number is None:
                self._flushes.abandoned()
            raise
        with translated():
            self._flushes.flush(number)  # outside our lock: the next inserts are written meanwhile
        self._notify()
        return first

    # -- waiting --------------------------------------------------------------------------
    def listen(self, event: threading.Event) -> None:
        """Set ``event`` whenever records are appended (by any process) from now on, and once now
        (so that whatever came before the follower started is looked at too)."""
        with self._listeners_lock:
            self._check_open()
            self._listeners.add(event)
            if self._follower is None:
                with translated():
                    from_seq = self.store.last_seq + 1
                stop = threading.Event()
                self._stop_following = stop
                self._follower = threading.Thread(target=self._follow, args=(from_seq, stop), daemon=True,
                                                  name=f"follow {self.project}")
                self._follower.start()
        event.set()

    def unlisten(self, event: threading.Event) -> None:
        """Stop setting ``event``; the follower ends with the last listener."""
        with self._listeners_lock:
            self._listeners.discard(event)
            if not self._listeners and self._stop_following is not None:
                self._stop_following.set()
                self._stop_following = self._follower = None

    def wait_for_records(self, after: int, timeout: float, stop_event: threading.Event | None) -> None:
        """Return once the log holds a record after seq ``after``, ``timeout`` seconds passed, or
        ``stop_event`` was set; waits on the store's follow (no polling)."""
        with translated():
            for _ in self.store.follow(after + 1, timeout=timeout, stop_event=stop_event):
                return

    def _follow(self, from_seq: int, stop: threading.Event) -> None:
        try:
            for _ in self.store.follow(from_seq, stop_event=stop):
                self._notify()
        except Exception as exc:  # noqa: BLE001 - a follower that dies must say why, not kill the app
            if not stop.is_set() and not self._closed:
                log.error("following %r stopped: %s", self, exc)
        finally:
            self._notify()  # let the listeners look once more (and find out)

    def _notify(self) -> None:
        for event in list(self._listeners):
            event.set()

    # -- closing --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the follower, close the handle. Idempotent."""
        with self._listeners_lock:
            follower, stop = self._follower, self._stop_following
            self._listeners.clear()
            self._follower = self._stop_following = None
        if stop is not None:
            stop.set()
            follower.join(timeout=5)
        with self._lock:
            if not self._closed:
                self._closed = True
                self.store.close()

    def __del__(self) -> None:  # (as the library's datastores do: a factory dropped unclosed lets go of its handle)
        try:
            if not self._closed:
                self.close()
        except Exception:  # noqa: BLE001 - nothing to report to at interpreter shutdown
            pass

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError(f"{self!r} is closed")


__all__ = ["Datastore", "translated"]
