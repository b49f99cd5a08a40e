"""Typed errors of the event store.

Every error says what happened, where (file, byte offset, seq when known) and
what to do about it. All derive from :class:`EventStoreError`, so a caller can
catch the whole family with one clause. No error is raised after bytes were
acknowledged: an append that raises has written nothing that a reader can see.
"""

from __future__ import annotations

import os


class EventStoreError(Exception):
    """Base class of every error raised by :mod:`eventstore`."""


class LogNotFoundError(EventStoreError):
    """The path holds no event log and ``create=False`` was given."""

    def __init__(self, path: os.PathLike | str):
        self.path = os.fspath(path)
        super().__init__(
            f"no event log at {self.path}: open it with create=True to make one"
        )


class NotALogError(EventStoreError):
    """The path exists but is not an event log (or its marker file is unreadable)."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path} is not an event log: {reason}")


class LogPermissionError(EventStoreError):
    """The operating system refused access to a file of the log."""

    def __init__(self, path: os.PathLike | str, action: str, detail: str = ""):
        self.path = os.fspath(path)
        self.action = action
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"permission denied to {action} {self.path}{extra}: "
            "check the file's owner and mode"
        )


class LogClosedError(EventStoreError):
    """An operation was attempted on a closed :class:`~eventstore.EventLog`."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"the event log handle for {path} is closed")


class ConcurrencyConflict(EventStoreError):
    """``expected_seq`` did not match the log's last seq; nothing was written.

    ``actual_seq`` is the log's last seq at the moment of the check: read the
    records after ``expected_seq``, decide again, and retry.
    """

    def __init__(self, expected_seq: int, actual_seq: int):
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq
        super().__init__(
            f"expected the log to end at seq {expected_seq}, but it ends at "
            f"seq {actual_seq}: read the new records and retry"
        )


class InvalidEventError(EventStoreError):
    """An event passed to ``append`` is malformed or cannot be serialised."""

    def __init__(self, index: int, reason: str):
        self.index = index
        self.reason = reason
        super().__init__(f"event #{index} of the batch is invalid: {reason}")


class RecordTooLargeError(InvalidEventError):
    """An encoded record exceeds the log's ``max_record_bytes``."""

    def __init__(self, index: int, size: int, limit: int):
        self.size = size
        self.limit = limit
        EventStoreError.__init__(
            self,
            f"event #{index} of the batch encodes to {size} bytes, over the "
            f"log's limit of {limit} bytes: store large payloads elsewhere and "
            "reference them, or open the log with a larger max_record_bytes",
        )
        self.index = index
        self.reason = f"{size} bytes > {limit}"


#: kinds of damage, in the words errors and reports use (set where the damage is found)
TORN_TAIL = "torn_tail"  # an unfinished batch or invalid bytes at the very end (a crash mid-write)
CHECKSUM = "checksum"  # a complete JSON line whose checksum does not match
MALFORMED = "malformed"  # cut short, not UTF-8, not JSON, or not a record
GAP = "gap"  # a valid record whose seq is not the next one
INCOMPLETE_BATCH = "incomplete_batch"  # a batch whose last record is missing, not at the very end
MISSING_SEGMENT = "missing_segment"
UNREADABLE_SEGMENT = "unreadable_segment"


class CorruptLogError(EventStoreError):
    """A record that is followed by valid records is damaged (mid-log damage).

    Never repaired automatically: records up to ``seq - 1`` stay readable;
    ``EventLog.repair()`` cuts the log at the damage after keeping a backup.
    ``kind`` is one of the damage kinds above.
    """

    def __init__(self, file: str, offset: int, seq: int | None, reason: str, kind: str = MALFORMED):
        self.file = file
        self.offset = offset
        self.seq = seq
        self.reason = reason
        self.kind = kind
        where = f"{file} at byte {offset}"
        if seq is not None:
            where += f" (expected seq {seq})"
        super().__init__(
            f"the log is damaged in {where}: {reason}; records before it are "
            "readable; run repair() (or `planner restore`) to recover"
        )


class DiskFullError(EventStoreError):
    """The disk (or the file-size limit) refused the write; nothing was appended."""

    def __init__(self, path: str, detail: str):
        self.path = path
        super().__init__(
            f"could not append to {path}: {detail}; the log is unchanged and "
            "nothing was acknowledged; free space and retry"
        )


class DurabilityError(EventStoreError):
    """``fsync`` failed: the append was written but cannot be promised durable.

    The handle refuses further appends; reopen the log (which re-validates the
    tail) once the device is healthy.
    """

    def __init__(self, path: str, detail: str):
        self.path = path
        super().__init__(
            f"flushing {path} to disk failed ({detail}): the last append is not "
            "acknowledged; reopen the log once the device is healthy"
        )


class LockTimeoutError(EventStoreError):
    """The append lock was not acquired within the requested timeout."""

    def __init__(self, path: str, timeout: float):
        self.path = path
        self.timeout = timeout
        super().__init__(
            f"could not take the append lock {path} within {timeout:.3f}s: "
            "another writer holds it"
        )


class InvalidArgumentError(EventStoreError, ValueError):
    """An argument to a log method is out of range or of the wrong type."""


class LogTruncatedError(EventStoreError):
    """The log became shorter under an open handle (a ``repair`` or restore ran).

    Reopen the log: the handle's position no longer exists.
    """

    def __init__(self, file: str, size: int, position: int, reason: str | None = None):
        self.file = file
        super().__init__(
            f"{file}: {reason}" if reason else
            f"{file} is {size} bytes but this handle had read up to byte {position}: "
            "the log was cut (repair/restore) while open; reopen it"
        )
