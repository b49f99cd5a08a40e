"""Whole batches in and out of any store, every field kept: what copying a project needs.

``read_batches`` groups a store's records in the batches they were appended in (the
unit every reader sees whole); ``write_batches`` writes such batches into an empty
project, keeping seq, id, ts, cmd and the batch boundaries; ``batch_lines`` is the
file log's exact line encoding of a batch (the bytes ``EventLog`` itself wrote for it),
which is how a record kept elsewhere is archived byte for byte. Used by
:mod:`eventstore.migrate` (a project between stores), :mod:`eventstore.archive` (the git
archive of a store without files) and :mod:`eventstore.restore`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from .errors import EventStoreError
from .fsutil import fsync_dir, os_error, write_all
from .log import EventLog
from .record import Damage, Record, decode, prepare, seal
from .segments import fast_batch_end, iter_lines, list_segments, segment_name
from .store import Store

_NO_LIMIT = 2**62  # the records were accepted by their store already


class CopyError(EventStoreError):
    """A batch could not be read or written as it was: a damaged source, a target not empty."""


def batch_lines(batch: list[Record]) -> bytes:
    """The lines the file log writes for ``batch`` (every record sealed with the batch's end,
    if it has more than one record): byte-identical to what ``EventLog`` wrote for it,
    whatever store kept it since. O(size)."""
    end = batch[-1].seq if len(batch) > 1 else None
    return b"".join(seal(r.seq, r.ts.encode(), prepare(i, {"type": r.type, "data": r.data}, r.id, r.cmd, _NO_LIMIT),
                         end) for i, r in enumerate(batch))


def read_batches(store: Store, upto: int, from_seq: int = 1) -> Iterator[list[Record]]:
    """Records ``from_seq``..``upto`` of ``store``, grouped in the batches they were appended in
    (``from_seq`` must start a batch and ``upto`` end one). O(records) time, O(one batch) memory
    (on files, the records before ``from_seq`` are read and skipped)."""
    if isinstance(store, EventLog):
        return _file_batches(store, upto, from_seq)
    from .postgres.copying import read_batches as pg_batches

    return pg_batches(store, upto, from_seq)


def write_batches(store: Store, batches: Iterable[list[Record]]) -> int:
    """Write ``batches`` (every field kept) into ``store``'s empty log; return the records written."""
    if isinstance(store, EventLog):
        return _write_file_batches(store, batches)
    from .postgres.copying import write_batches as pg_write

    return pg_write(store, batches)


def _file_batches(log: EventLog, upto: int, from_seq: int) -> Iterator[list[Record]]:
    """Every line of the segments, checksum-checked (``decode``), grouped by its ``end``."""
    expected, batch = 1, []
    for segment in list_segments(log.log_dir):
        fd = os.open(segment.path, os.O_RDONLY)
        try:
            for offset, line in iter_lines(fd, 0):
                if expected > upto:
                    return
                try:
                    record = decode(line, expected)
                except Damage as damage:
                    raise CopyError(f"the source log is damaged in {segment.path} at byte {offset} (seq "
                                       f"{expected}): {damage.reason}; run `planner restore` first") from None
                batch.append(record)
                expected += 1
                end = fast_batch_end(line)
                if end is None or end == record.seq:
                    if batch[0].seq >= from_seq:
                        yield batch
                    batch = []
        finally:
            os.close(fd)
    if expected <= upto:
        raise CopyError(f"the source log {log.log_dir} ends at seq {expected - 1}, before seq {upto}")


def _write_file_batches(log: EventLog, batches: Iterable[list[Record]]) -> int:
    """Seal each record as the log's writer would (same seq, id, ts, cmd, batch end) and write the
    lines into the empty log's segments, rolling at its segment size, under its append lock;
    flushed (and the directory too) before the lock is released."""
    lock = log._ensure_writer()
    lock.acquire(log.lock_timeout)
    try:
        segments = list_segments(log.log_dir)
        if len(segments) != 1 or segments[0].path.stat().st_size:
            raise CopyError(f"{log.path} is not empty: refusing to overwrite it")
        path, size, last = segments[0].path, 0, 0
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            for batch in batches:
                data = batch_lines(batch)
                write_all(fd, data)
                size, last = size + len(data), batch[-1].seq
                if size >= log.segment_bytes:  # roll as the writer does: flush, then the next segment
                    os.fdatasync(fd)
                    os.close(fd)
                    path = log.log_dir / segment_name(last + 1)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
                    size = 0
            os.fdatasync(fd)
        except OSError as exc:
            raise os_error(exc, path, "copy records into") from None
        finally:
            os.close(fd)
        fsync_dir(log.log_dir)
        return last
    finally:
        lock.release()
