"""Copying a project between stores exactly: ``planner migrate --to STORE``.

::

    report = migrate("file:/home/me/.planner/projects", "postgresql://db/plans", "web")

The copy keeps everything a record has (seq, id, type, ts, cmd, data) and the batches it
was appended in, then the snapshots; then it reads both logs back, batch by batch, and
compares them, and runs the target's ``verify()``. It refuses a target project that
already holds records (an empty one, e.g. left by a failed copy, is filled).

While it reads, it holds the source project's append lock (a transaction on a second
handle, resumed at the end so that it loads nothing): writers wait, and the copy is the
log as it stood when the copy began. Writing is all or nothing on PostgreSQL (one
database transaction); on files, under the target's append lock, into its empty log,
flushed before the lock is released. O(records) time, O(one batch) memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import zip_longest
from typing import Any

from .batches import read_batches, write_batches
from .errors import EventStoreError, InvalidArgumentError
from .record import Record
from .store import Store, open_store


class MigrateError(EventStoreError):
    """The copy was refused, or does not match its source (the message says which)."""


@dataclass
class MigrateReport:
    project: str
    source: str
    target: str
    records: int
    batches: int
    snapshots: list[int]
    verified: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def migrate(source: str, target: str, project: str, **target_options: Any) -> MigrateReport:
    """Copy ``project`` from the store named ``source`` to the store named ``target`` (created
    there), then verify the copy. Raises MigrateError (a non-empty target, a mismatch),
    LogNotFoundError (no such project in the source), or the stores' own errors."""
    if os.fspath(source) == os.fspath(target):
        raise InvalidArgumentError("the source and the target are the same store")
    src = open_store(source, project)
    try:
        dst = open_store(target, project, create=True, **target_options)
        try:
            if dst.last_seq:
                raise MigrateError(f"project {project!r} in the target store holds {dst.last_seq} records: refusing "
                                   "to overwrite it (pick another store, or delete the project there first)")
            locker = open_store(source, project)
            try:
                locker.resume(src.last_seq)  # (its transaction hands over only what arrived since: ~nothing)
                with locker.transaction() as tx:  # writers wait while we copy
                    end = tx.last_seq
                    counted = _Counted(read_batches(src, end))
                    written = write_batches(dst, counted)
            finally:
                locker.close()
            snapshots = _copy_snapshots(src, dst)
        finally:
            dst.close()
        again = open_store(target, project, **target_options)  # a fresh handle: what any reader sees
        try:
            _compare(src, again, end)
            report = again.verify()
            if not report.ok:
                raise MigrateError(f"the copy of {project!r} does not verify: {'; '.join(map(str, report.problems))}")
        finally:
            again.close()
    finally:
        src.close()
    if written != end:
        raise MigrateError(f"wrote {written} records of {end}")
    return MigrateReport(project, _shown(source), _shown(target), end, counted.batches, snapshots, True)


# -- the rest -------------------------------------------------------------------------------
class _Counted:
    """Passes batches through, counting them."""

    def __init__(self, batches: Iterator[list[Record]]):
        self._batches = batches
        self.batches = 0

    def __iter__(self) -> Iterator[list[Record]]:
        for batch in self._batches:
            self.batches += 1
            yield batch


def _copy_snapshots(src: Store, dst: Store) -> list[int]:
    """Every intact snapshot of the source, saved in the target (derived data: a speed-up)."""
    copied = []
    for seq in src.snapshot_seqs():
        snap = src.load_snapshot(seq)
        if snap is not None and snap.seq == seq:
            dst.save_snapshot(seq, snap.data)
            copied.append(seq)
    return copied


def _compare(src: Store, dst: Store, end: int) -> None:
    """Both logs, batch by batch, field by field: MigrateError at the first difference."""
    if dst.last_seq != end:
        raise MigrateError(f"the copy ends at seq {dst.last_seq}, the source at seq {end}")
    pairs = zip_longest(read_batches(src, end), read_batches(dst, end))
    for mine, theirs in pairs:
        if mine != theirs:
            at = (mine or theirs)[0].seq
            raise MigrateError(f"the copy differs from the source in the batch at seq {at}")


def _shown(name: str) -> str:
    from .postgres.names import is_postgres, mask

    text = os.fspath(name)
    return mask(text) if is_postgres(text) else text
