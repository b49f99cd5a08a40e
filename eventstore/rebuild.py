"""Rebuild a project in a store without files (PostgreSQL) from its git archive.

``rebuild(store_name, project, directory)`` is :func:`eventstore.restore.restore` for a
store that keeps no segment files: the archive kept in ``directory`` (see
:class:`~eventstore.archive.Archive`) is written into the named store's project, which
must be missing or empty: the database was lost, or the project is being rebuilt in a
fresh schema. ``to`` (a tag, ``main``, a ref or a commit id) stops at that recovery
point, which needs ``confirm=True`` when the archive holds events after it.

Guarantees:

* **Exact**: every record comes back with its seq, id, ts, cmd and data, in the batches
  it was appended in (the archive's lines are checksum-checked and contiguous from 1 as
  they are read, :meth:`Archive.records_at`); afterwards the project is read back and
  each batch, encoded as the file log encodes it, must be the archive's bytes, and the
  store's ``verify`` must pass (else :class:`~eventstore.restore.RestoreVerificationError`).
* **All or nothing**: on PostgreSQL the rows are written in one database transaction.
* **Nothing overwritten**: a project that holds records is refused, with
  :class:`~eventstore.restore.NothingToRestoreError` when it holds everything the archive
  holds, else :class:`~eventstore.restore.LogDivergedError`; an in-place rollback of a
  shared database is not done (every server holding the project would have to reload).

Costs: O(bytes archived up to the point) read, O(records) written and read back; memory
O(one batch) beyond the store's own buffering.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path

from .archive import Archive
from .batches import batch_lines, read_batches, write_batches
from .record import Record, decode
from .restore import (
    ConfirmationRequiredError,
    LogDivergedError,
    NoArchiveError,
    NothingToRestoreError,
    RestoreReport,
    RestoreVerificationError,
)
from .segments import ends_batch, fast_seq
from .store import Store, open_store


def rebuild(store_name: str, project: str, directory: os.PathLike | str, to: str | None = None,
            confirm: bool = False) -> RestoreReport:
    """Write the archive kept in ``directory`` (up to ``to``) into ``project`` of the store named
    ``store_name`` (created if missing); see the module docstring for the guarantees and refusals."""
    with Archive(None, directory=Path(directory)) as archive:  # type: ignore[arg-type]  (it only reads)
        head = archive.head()
        if head is None:
            raise NoArchiveError(archive.path, f"nothing to rebuild project {project!r} from: {archive.path} has "
                                 "no commit (`planner commit` makes one while the project is healthy)")
        point = archive.commit_of(to)
        if point.last_seq < head.last_seq and not confirm:
            raise ConfirmationRequiredError(
                f"going back to {to!r} leaves out the {head.last_seq - point.last_seq} archived event(s) after "
                f"seq {point.last_seq}: confirm (--yes) to rebuild without them", head.last_seq - point.last_seq,
                point.last_seq)
        store = open_store(store_name, project, create=True)
        try:
            where = f"project {project!r} in {getattr(store, 'where', store.name)}"
            if store.last_seq:
                _refuse(store, archive, to, where, point.last_seq)
            written = write_batches(store, (_records(lines) for lines in _line_batches(archive.records_at(to))))
        finally:
            store.close()
        _check(store_name, project, archive, to, where, written)
    return RestoreReport(where, last_seq=written, from_archive=list(range(1, written + 1)), revision=point.sha,
                         to=to, discarded=list(range(written + 1, head.last_seq + 1)))


def _line_batches(lines: Iterator[bytes]) -> Iterator[list[bytes]]:
    """The archive's lines grouped by the batch end each one carries."""
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if ends_batch(line):
            yield batch
            batch = []


def _records(lines: list[bytes]) -> list[Record]:
    return [decode(line, fast_seq(line)) for line in lines]  # (records_at checked seqs and checksums)


def _refuse(store: Store, archive: Archive, to: str | None, where: str, point: int) -> None:
    """A project that holds records is never overwritten: say whether it holds the archive."""
    if to is None and store.last_seq >= point and _same(read_batches(store, point), archive.records_at(to)):
        raise NothingToRestoreError(f"{where} holds every archived event (up to seq {point}): nothing to rebuild")
    raise LogDivergedError(f"{where} holds {store.last_seq} events already: rebuilding never overwrites them "
                           "(rebuild into a fresh schema, e.g. --store 'postgresql://.../db?schema=restored')")


def _same(batches: Iterator[list[Record]], lines: Iterator[bytes]) -> bool:
    """Whether ``batches`` encode, batch by batch, to the archive's ``lines``."""
    return all(mine is not None and theirs is not None and batch_lines(mine) == b"".join(theirs)
               for mine, theirs in zip_longest(batches, _line_batches(lines)))


def _check(store_name: str, project: str, archive: Archive, to: str | None, where: str, written: int) -> None:
    """Read the project back through a fresh handle: it must be the archive's bytes, and verify."""
    again = open_store(store_name, project)
    try:
        if not _same(read_batches(again, written), archive.records_at(to)):
            raise RestoreVerificationError(f"{where} differs from the archive after rebuilding")
        report = again.verify()
        if not report.ok:
            raise RestoreVerificationError(f"{where} does not verify after rebuilding: "
                                           + "; ".join(map(str, report.problems)))
    finally:
        again.close()
