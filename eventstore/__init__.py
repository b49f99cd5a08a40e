"""eventstore: a domain-free, durable, multi-process append-only event log.

The storage protocol (:mod:`eventstore.store`): :class:`Store`, opened by name with
:func:`open_store`; the file backend is :class:`EventLog`. The file log's contract::

    from eventstore import EventLog
    with EventLog.open(path, create=True) as log:
        log.append([{"type": "x", "data": {}}], expected_seq=0, idempotency_key="cmd-1")
        with log.transaction() as tx:      # lock, catch up, decide, append
            state = fold(state, tx.records)
            tx.append(decide(state, command))
        for record in log.read(from_seq=1): ...
        for record in log.follow(from_seq, timeout=5): ...
        report = log.verify()

See ``eventstore.log`` for the write path and its guarantees, and the README
for the format and every error.
"""

from .errors import (
    ConcurrencyConflict,
    CorruptLogError,
    DiskFullError,
    DurabilityError,
    EventStoreError,
    InvalidArgumentError,
    InvalidEventError,
    LockTimeoutError,
    LogClosedError,
    LogNotFoundError,
    LogPermissionError,
    LogTruncatedError,
    NotALogError,
    RecordTooLargeError,
)
from .log import DURABILITY_MODES, AppendResult, EventLog, TailRecovery, Transaction
from .record import Record
from .snapshots import CorruptSnapshotWarning, Snapshot
from .store import Cursor, Store, check_project_name, list_projects, open_store
from .verify import Problem, RepairReport, VerifyReport

__all__ = [
    "DURABILITY_MODES",
    "AppendResult",
    "ConcurrencyConflict",
    "CorruptLogError",
    "CorruptSnapshotWarning",
    "Cursor",
    "DiskFullError",
    "DurabilityError",
    "EventLog",
    "EventStoreError",
    "InvalidArgumentError",
    "InvalidEventError",
    "LockTimeoutError",
    "LogClosedError",
    "LogNotFoundError",
    "LogPermissionError",
    "LogTruncatedError",
    "NotALogError",
    "Problem",
    "Record",
    "RecordTooLargeError",
    "RepairReport",
    "Snapshot",
    "Store",
    "TailRecovery",
    "Transaction",
    "VerifyReport",
    "check_project_name",
    "list_projects",
    "open_store",
]
