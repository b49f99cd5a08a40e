"""EventLog: a durable, multi-process, append-only log of JSON records.

One log is one directory::

    <path>/eventlog.json             marker: format, version, segment size
    <path>/.lock                     the append lock (flock)
    <path>/log/<first-seq>.jsonl     segments; only the last one grows
    <path>/snapshots/<seq>.snap      opaque snapshot bytes (derived data)
    <path>/quarantine/               bytes cut from a torn tail, repair backups

The write path, and what each step costs (see ``stress.bench log``)::

    prepare   validate + serialise each event          outside the lock, O(size)
    lock      flock(LOCK_EX), blocking                  kernel hand-over, no polling
    catch up  fstat; read the bytes others appended     O(new bytes)
    decide    the caller's transaction body             caller's cost
    write     seq + ts + crc spliced in; one write()    O(batch)
    unlock
    flush     fdatasync (durability="always")           outside the lock, so
                                                        concurrent writers share it
    ack       return AppendResult

Guarantees: seq is contiguous from 1; a batch is all-or-nothing (one
``write`` call, and a torn one is cut before anyone appends after it); an
acknowledged append survives kill -9 in every mode, and power loss in mode
``always`` (see :data:`DURABILITY_MODES`); readers never block writers and
see only complete, checksum-valid records.

A handle is safe to share between threads (appends serialise on it); use one
handle per thread for flush concurrency. A handle must not cross ``fork``:
open a new one in the child.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from .buffered import AppendResult, BufferedAppends
from .durability import BatchFlusher, FlushGate
from .errors import (
    DurabilityError,
    EventStoreError,
    InvalidArgumentError,
    LogClosedError,
    LogNotFoundError,
    LogPermissionError,
    LogTruncatedError,
    NotALogError,
)
from .fsutil import atomic_write, fsync_dir, os_error, quarantine, write_all
from .locking import AppendLock, read_generation
from .reader import LogReader, TornTail
from .record import PreparedEvent, Record, prepare, seal, utc_timestamp
from .segments import segment_name
from .snapshots import CorruptSnapshotWarning, Snapshot, SnapshotStore

log = logging.getLogger("eventstore")

META_NAME = "eventlog.json"
FORMAT = "superplanner.eventlog"
FORMAT_VERSION = 1
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_RECORD_BYTES = 1024 * 1024

#: What each durability mode promises before ``append`` returns:
#:
#: ``always``  the batch is on stable storage (fdatasync). Survives kill -9,
#:             power loss and kernel crash. Writers flush after releasing the
#:             lock, so one flush covers everything appended before it.
#: ``batch``   the batch is in the OS page cache and will be flushed within
#:             ``batch_interval_ms``. Survives kill -9; a power loss may lose
#:             appends acknowledged in the last interval (never a partial one).
#: ``none``    the batch is in the page cache; flushed when the OS decides.
#:             Survives kill -9, not power loss. For tests and throwaway logs.
DURABILITY_MODES = ("always", "batch", "none")

_SKELETON = {".lock", "log", "snapshots", "quarantine"}


class TailRecovery(NamedTuple):
    """A torn tail this handle cut off (and kept) before appending."""

    file: str
    offset: int
    seq: int
    reason: str
    bytes: int
    quarantined_to: str


class Transaction(BufferedAppends):
    """The read-decide-append step, handed out by :meth:`EventLog.transaction`.

    While it is open the caller holds the append lock: ``records`` are the
    records it has not yet seen (appended by other handles), ``last_seq`` is
    the log's end, and ``append`` cannot conflict. Appends are buffered and
    written in one ``write`` call, as one batch, when the ``with`` block exits
    normally; an exception in the block discards them (all or nothing).
    With ``defer_flush``, :meth:`flush` (after the block) makes them durable.
    """

    def __init__(self, owner: EventLog, records: list[Record]):
        self.records = records
        self._owner = owner
        self._closed = False
        self._base = owner._reader.next_seq - 1  # log's last seq when the tx began
        self._start_buffer()  # (PreparedEvents, sealed together on exit: one batch)
        self._ts = owner._stamp()  # str, for the handle's ordering check
        self._ts_bytes = self._ts.encode()
        self._unflushed: tuple[int, int] | None = None  # (segment, end) written and not yet flushed

    def flush(self) -> None:
        """Make what this transaction wrote durable (see :meth:`EventLog.transaction`'s
        ``defer_flush``). Idempotent; a no-op when nothing is owed. Raises
        :class:`DurabilityError` when the flush, or an earlier one of this handle, failed."""
        if self._unflushed is not None:
            segment, end = self._unflushed
            self._owner._flush_to(segment, end)
            self._unflushed = None


    def append(
        self,
        events: Iterable[Mapping[str, Any]],
        expected_seq: int | None = None,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Buffer a batch; same contract as :meth:`EventLog.append`."""
        if self._closed:
            raise EventStoreError("this transaction has ended: appends go inside its with block")
        return self._add(self._owner._prepare(events, idempotency_key), expected_seq, idempotency_key)

    def seen(self, idempotency_key: str) -> AppendResult | None:
        """The result of the append made with this key, if the log has one. O(1)."""
        done = self._keys.get(idempotency_key) or self._owner._key(idempotency_key)
        return None if done is None else AppendResult(done[0], done[1], True)

    def _sealed(self) -> list[bytes]:
        """Every record of the transaction, as one batch: readers see all of it or none."""
        first, ts, count = self._base + 1, self._ts_bytes, len(self._buffer)
        end = first + count - 1 if count > 1 else None
        return [seal(first + i, ts, p, end) for i, p in enumerate(self._buffer)]


class EventLog:
    """A durable append-only log in one directory; see the module docstring."""

    # -- opening -----------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: os.PathLike | str,
        create: bool = False,
        *,
        durability: str = "always",
        batch_interval_ms: int = 50,
        segment_bytes: int | None = None,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        lock_timeout: float | None = None,
    ) -> EventLog:
        """Open the log at ``path``; with ``create=True`` make it if missing.

        Cheap: the log is read lazily, by the first call that needs its end.
        Raises :class:`LogNotFoundError`, :class:`NotALogError`,
        :class:`LogPermissionError` or :class:`InvalidArgumentError`.
        """
        if durability not in DURABILITY_MODES:
            raise InvalidArgumentError(f"durability must be one of {DURABILITY_MODES}, not {durability!r}")
        if segment_bytes is not None and segment_bytes < 1024:
            raise InvalidArgumentError("segment_bytes must be at least 1024")
        if max_record_bytes < 256:
            raise InvalidArgumentError("max_record_bytes must be at least 256")
        path = Path(path)
        try:
            if not path.exists():
                if not create:
                    raise LogNotFoundError(path)
                path.mkdir(parents=True, exist_ok=True)
            elif not path.is_dir():
                raise NotALogError(path, "it is a file, not a log directory")
            if not (path / META_NAME).exists():
                if not create:
                    if any(path.iterdir()):
                        raise NotALogError(path, f"it has no {META_NAME} marker")
                    raise LogNotFoundError(path)
                cls._initialise(path, segment_bytes or DEFAULT_SEGMENT_BYTES)
        except PermissionError as exc:
            raise LogPermissionError(path, "open", exc.strerror or "") from None
        except (NotADirectoryError, FileExistsError):  # a file where a directory of the path belongs
            blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
            raise NotALogError(path, f"{blocker or 'a part of its path'} is a file, not a directory") from None
        except OSError as exc:  # a name too long, a full disk, ...: one line that says where
            raise os_error(exc, path, "create" if create else "open") from None
        meta = cls._read_meta(path)
        return cls(
            path, meta,
            durability=durability,
            batch_interval_ms=batch_interval_ms,
            segment_bytes=segment_bytes or meta["segment_bytes"],
            max_record_bytes=max_record_bytes,
            lock_timeout=lock_timeout,
        )

    @staticmethod
    def _initialise(path: Path, segment_bytes: int) -> None:
        """Create the skeleton, under the append lock so racing creators agree.

        The marker is written last and atomically: a crash part-way leaves a
        directory that the next ``open(create=True)`` finishes initialising.
        """
        lock = AppendLock(path / ".lock")
        try:
            lock.acquire()
            if (path / META_NAME).exists():
                return
            foreign = {p.name for p in path.iterdir()} - _SKELETON
            if foreign:
                raise NotALogError(path, f"the directory is not empty ({sorted(foreign)[:3]}) and holds no log")
            log_dir = path / "log"
            log_dir.mkdir(exist_ok=True)
            if any(p.stat().st_size for p in log_dir.iterdir()):
                raise NotALogError(path, "log/ holds data but the marker is missing")
            first = log_dir / segment_name(1)
            os.close(os.open(first, os.O_WRONLY | os.O_CREAT, 0o644))
            fsync_dir(log_dir)
            meta = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "segment_bytes": segment_bytes,
                "created": utc_timestamp(),
            }
            atomic_write(path / META_NAME, json.dumps(meta, indent=2).encode() + b"\n")
            fsync_dir(path.parent)
        finally:
            lock.close()

    @staticmethod
    def _read_meta(path: Path) -> dict:
        try:
            meta = json.loads((path / META_NAME).read_bytes())
        except PermissionError as exc:
            raise LogPermissionError(path / META_NAME, "read", exc.strerror or "") from None
        except (OSError, ValueError) as exc:
            raise NotALogError(path, f"{META_NAME} is unreadable: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise NotALogError(path, f"{META_NAME} does not describe a {FORMAT} log")
        version = meta.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise NotALogError(path, f"format version {version!r} is newer than this code ({FORMAT_VERSION}): upgrade")
        if not isinstance(meta.get("segment_bytes"), int):
            raise NotALogError(path, f"{META_NAME} has no valid segment_bytes")
        return meta

    def __init__(
        self,
        path: Path,
        meta: dict,
        *,
        durability: str,
        batch_interval_ms: int,
        segment_bytes: int,
        max_record_bytes: int,
        lock_timeout: float | None,
    ):
        self.path = path
        self.durability = durability
        self.segment_bytes = segment_bytes
        self.max_record_bytes = max_record_bytes
        self.lock_timeout = lock_timeout
        self.log_dir = path / "log"
        self.quarantine_dir = path / "quarantine"
        self.snapshots = SnapshotStore(path / "snapshots")
        #: torn tails this handle cut off before appending (also logged as warnings)
        self.recovered: list[TailRecovery] = []
        self._meta = meta
        self._pid = os.getpid()
        self._mutex = threading.RLock()
        self._lock: AppendLock | None = None
        self._gate: FlushGate | None = None  # group commit; opened with the lock
        self._wfd: int | None = None  # O_APPEND fd on the segment the reader is in
        self._fd_lock = threading.Lock()  # guards replacing _wfd (the batch flusher uses it)
        self._wfd_segment = 0
        # the generation first: positions read after it are valid in it (a repair bumps it last)
        self._generation = read_generation(path / ".lock")
        try:
            self._reader = LogReader(self.log_dir, roll_bytes=segment_bytes)
        except PermissionError as exc:
            raise LogPermissionError(self.log_dir, "list", exc.strerror or "") from None
        except FileNotFoundError:
            raise NotALogError(path, "its log/ directory is missing") from None
        self._keys: dict[str, tuple[int, int]] = {}  # idempotency key -> (first, last)
        self._keys_before = 0  # after resume(seq): keys of records 1..seq are not in _keys yet
        self._last_ts = ""
        self._collect = False  # collect unseen records once a transaction was used
        self._unseen: list[Record] = []
        self._broken: str | None = None
        self._closed = False
        self._in_tx = False
        self._flusher = None
        if durability == "batch":
            self._flusher = BatchFlusher(self._flush_quietly, batch_interval_ms / 1000)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.durability
        return f"<EventLog {self.path} ({state})>"

    def close(self) -> None:
        """Flush (mode ``batch``), release every file handle. Idempotent."""
        if self._closed:
            return
        if self._flusher is not None:
            self._flusher.stop()
            self._flush_quietly()
        with self._mutex:
            self._closed = True
            self._swap_wfd(None, 0)
            if self._lock is not None:
                self._lock.close()
            if self._gate is not None:
                self._gate.close()
            self._reader.close()

    # -- reading -----------------------------------------------------------
    @property
    def last_seq(self) -> int:
        """The seq of the last complete, valid record (0 for an empty log).

        Lock-free; O(bytes appended since this handle last looked).
        """
        with self._mutex:
            self._check_open()
            self._poll()
            return self._reader.next_seq - 1

    def read(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Record]:
        """Yield records ``from_seq..to_seq`` (inclusive; to the end when None).

        Lock-free and independent of appends in progress. Stops silently at a
        torn tail; raises :class:`CorruptLogError` at mid-log damage, after
        yielding every record before it. O(records read), plus a skip over the
        earlier part of the first segment that does not parse JSON.
        """
        self._check_open()
        _check_from_seq(from_seq)
        if to_seq is not None and (not isinstance(to_seq, int) or to_seq < 0):
            raise InvalidArgumentError(f"to_seq must be an int >= 0 or None, not {to_seq!r}")
        return self._read(from_seq, to_seq)

    def _read(self, from_seq: int, to_seq: int | None) -> Iterator[Record]:
        reader = LogReader(self.log_dir, first_seq=from_seq)
        try:
            for record in reader.poll():
                if to_seq is not None and record.seq > to_seq:
                    return
                if record.seq >= from_seq:
                    yield record
        finally:
            reader.close()

    def tail(self, from_seq: int = 1) -> LogReader:
        """A resumable, lock-free cursor: each ``poll()`` yields the whole batches
        appended since the previous one, starting at ``from_seq``'s batch.

        Finding the start costs one scan of that segment; every later poll
        costs only the new bytes (``read`` would re-scan each time). Close it
        when done.
        """
        self._check_open()
        _check_from_seq(from_seq)
        return LogReader(self.log_dir, first_seq=from_seq, roll_bytes=self.segment_bytes)

    def follow(self, from_seq: int = 1, timeout: float | None = None, stop_event=None) -> Iterator[Record]:
        """Yield records from ``from_seq`` on, waiting for new ones as they arrive.

        Waits on file-system notifications (watchfiles), not by polling the
        file. Ends when no record arrives for ``timeout`` seconds (never, if
        None) or when ``stop_event.is_set()``.
        """
        from .follow import follow

        self._check_open()
        return follow(self, from_seq, timeout, stop_event)

    def catch_up(self) -> list[Record]:
        """The records other handles appended that this handle has not handed over yet (through
        a transaction or an earlier ``catch_up``), read without the append lock; the next
        transaction's ``records`` then start after them. On a handle's first use (no
        :meth:`resume`), the whole log. O(new records).

        This is how a writer does its catching-up *before* taking the lock, so that the work
        inside the lock does not grow with the number of writers.
        """
        with self._mutex:
            self._check_open()
            if self._in_tx:
                raise EventStoreError("catch_up() inside a transaction: its records are tx.records")
            if not self._collect:
                self._start_collecting()
            self._poll()
            records, self._unseen = self._unseen, []
            return records

    # -- appending ---------------------------------------------------------
    def append(
        self,
        events: Iterable[Mapping[str, Any]],
        expected_seq: int | None = None,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Append a batch of ``{"type": str, "data": dict}`` events atomically.

        With ``expected_seq``, raise :class:`ConcurrencyConflict` unless the log
        ends exactly there. With ``idempotency_key``, a key already in the log
        returns the original result (``duplicate=True``) and writes nothing:
        a retry after a timeout never applies twice. Returns once the batch is
        as durable as the log's durability mode promises.
        """
        prepared = self._prepare(events, idempotency_key)  # fail fast, outside the lock
        with self._locked() as tx:
            return tx._add(prepared, expected_seq, idempotency_key)

    @contextmanager
    def transaction(self, since: int | None = None, defer_flush: bool = False) -> Iterator[Transaction]:
        """Hold the append lock for one read-decide-append step.

        ``tx.records`` are the records this handle has not been shown yet:
        on its first transaction the whole log, later only what other handles
        appended in between (own appends are never echoed back). With
        ``since``, instead every record after seq ``since`` (e.g. after the
        seq of the snapshot the caller loaded). On normal exit the buffered
        appends are written in one call, the lock is released, and the data is
        flushed per the durability mode before the ``with`` statement ends.

        ``defer_flush``: the exit writes and unlocks but does not flush;
        ``tx.flush()`` does, outside this handle's mutex, so that another
        thread can decide and write the next transaction during the flush (a
        server's pipelined group commit). Safe because the segment is
        append-only: a flush covers every byte written before it, so whoever
        acknowledges after their own ``flush()`` has every earlier record of
        the log durable too; and a failed flush fails every later one of this
        handle (:class:`~eventstore.durability.FlushGate`), so no write decided
        on top of lost bytes is acknowledged.
        """
        if since is not None and (not isinstance(since, int) or since < 0):
            raise InvalidArgumentError(f"since must be an int >= 0, not {since!r}")
        with self._locked(collect=True, defer_flush=defer_flush) as tx:
            if since is not None:
                tx.records = list(self._read(since + 1, tx.last_seq))
                self._unseen = []
            yield tx

    @contextmanager
    def _locked(self, collect: bool = False, defer_flush: bool = False) -> Iterator[Transaction]:
        """Lock, catch up, hand a Transaction to the body, write, unlock, flush."""
        self._check_open()
        if self._broken:
            raise DurabilityError(str(self.path), self._broken)
        with self._mutex:
            if self._in_tx:  # flock is per handle: a nested call would not exclude anyone
                raise EventStoreError(
                    "this handle is already in a transaction: append through that transaction's "
                    "tx.append, or open another handle"
                )
            lock = self._ensure_writer()
            lock.acquire(self.lock_timeout)
            self._in_tx = True
            tx = None
            records: list[Record] = []
            handed = False
            try:
                if collect and not self._collect:
                    self._start_collecting()
                self._catch_up_locked()
                records = self._unseen
                self._unseen = []
                tx = Transaction(self, records if collect else [])
                if not collect and self._collect:
                    self._unseen = records  # keep them for the next transaction
                handed = True
                yield tx
                end = self._write_locked(tx._sealed()) if tx._buffer else None
                if end is not None:
                    self._last_ts = tx._ts
                    if defer_flush:
                        tx._unflushed = (self._wfd_segment, end)
                for key, result in tx._keys.items():
                    self._keys[key] = (result.first_seq, result.last_seq)
            except BaseException:
                if collect and not handed:  # the caller never saw them: owe them still
                    self._unseen = records + self._unseen
                raise
            finally:
                self._in_tx = False
                if tx is not None:
                    tx._closed = True
                lock.release()
            if end is not None and not defer_flush:
                self._make_durable(end)

    def _start_collecting(self) -> None:
        """First transaction of this handle: it is owed the whole log so far."""
        self._collect = True
        if self._reader.next_seq > 1:  # already read (last_seq, append): re-read once
            self._unseen = list(self._read(1, self._reader.next_seq - 1))

    def _prepare(self, events: Iterable[Mapping[str, Any]], key: str | None) -> list[PreparedEvent]:
        if key is not None and (not isinstance(key, str) or not key):
            raise InvalidArgumentError(f"idempotency_key must be a non-empty string, not {key!r}")
        if isinstance(events, (str, bytes, Mapping)):
            raise InvalidArgumentError("events must be a list of {'type', 'data'} dicts, not a single value")
        batch = [
            prepare(i, event, os.urandom(16).hex(), key, self.max_record_bytes)  # 128 random bits
            for i, event in enumerate(events)
        ]
        if not batch:
            raise InvalidArgumentError("a batch needs at least one event")
        return batch

    def _stamp(self) -> str:
        """A timestamp never earlier than the last record's, so ts follows seq."""
        ts = utc_timestamp()
        if ts < self._last_ts:
            ts = self._last_ts
        return ts

    # -- the tail: catching up, cutting torn bytes, writing ------------------
    def _poll(self) -> None:
        """Read what was appended since this handle last looked (lock-free)."""
        keys = self._keys
        collect = self._collect
        last = None
        for record in self._reader.poll():
            last = record
            if record.cmd is not None:
                first = keys.get(record.cmd)
                keys[record.cmd] = (first[0] if first else record.seq, record.seq)
            if collect:
                self._unseen.append(record)
        if last is not None:
            self._last_ts = last.ts

    def _check_generation(self) -> None:
        """Refuse to go on from positions a repair (by any handle) has made void. O(1), locked."""
        generation = self._lock.generation()
        if generation != self._generation:
            raise LogTruncatedError(
                str(self.log_dir), 0, 0,
                reason=f"the log was repaired or restored by another handle (generation "
                       f"{self._generation} -> {generation}) while this one was open; reopen it",
            )

    def _catch_up_locked(self) -> None:
        self._check_generation()
        self._poll()
        torn = self._reader.torn
        if torn is not None:
            self._cut_torn_tail(torn)
        self._ensure_wfd()
        # Under the lock nothing is being written, so we must now be at the very end:
        # appending from anywhere else would put bytes where our position does not say.
        size = torn.offset if torn is not None else self._reader.seen_size
        if size != self._reader.offset:
            raise EventStoreError(
                f"{self._reader.segment_path} is {size} bytes but reading it stopped at byte "
                f"{self._reader.offset}: run verify()"
            )

    def _cut_torn_tail(self, torn: TornTail) -> None:
        """Keep the torn bytes in quarantine, then truncate them away (under the lock)."""
        with open(torn.file, "rb") as f:
            f.seek(torn.offset)
            data = f.read()
        info = {"what": "torn tail", "file": torn.file, "offset": torn.offset,
                "seq": torn.seq, "reason": torn.reason, "bytes": len(data)}
        name = f"torn-tail-{Path(torn.file).stem}-at{torn.offset}-{zlib.crc32(data):08x}"  # the same tail: one copy
        kept = quarantine(self.quarantine_dir, name, data, info, unique=False)
        self._ensure_wfd()
        try:
            self._gate.truncate(self._wfd, self._wfd_segment, torn.offset)
        except OSError as exc:
            raise os_error(exc, torn.file, "cut the torn tail of") from None
        self._reader.torn = None
        recovery = TailRecovery(torn.file, torn.offset, torn.seq, torn.reason, len(data), str(kept))
        self.recovered.append(recovery)
        log.warning(
            "cut a torn tail of %d bytes from %s at byte %d (seq %d would follow): %s; kept in %s",
            len(data), torn.file, torn.offset, torn.seq, torn.reason, kept,
        )

    def _write_locked(self, lines: list[bytes]) -> int:
        """Write the sealed lines in one call; roll the segment if it is full.

        Returns the byte offset the batch ends at in the active segment (or -1
        when a roll already flushed it). On a failed write the segment is
        truncated back, so nothing half-written is left for readers and
        nothing is acknowledged.
        """
        buf = b"".join(lines) if len(lines) > 1 else lines[0]
        reader = self._reader
        start = reader.offset
        fd = self._wfd
        try:
            write_all(fd, buf)
        except OSError as exc:
            try:
                self._gate.truncate(fd, self._wfd_segment, start)
            except OSError:
                pass  # the next writer's catch-up cuts whatever is left, into quarantine
            raise os_error(exc, reader.segment_path, "append to") from None
        reader.set_position(reader.segment_first, start + len(buf), reader.next_seq + len(lines))
        if reader.offset >= self.segment_bytes:
            try:
                self._roll()
                return -1
            except DurabilityError:
                raise
            except EventStoreError as exc:  # the batch is written: never report it as not
                log.warning("could not start a new segment after %s (%s); appends go on in it "
                            "and the next append tries again", reader.segment_path, exc)
        return reader.offset

    def _roll(self) -> None:
        """Seal the full segment (flushed) and start the next one, under the lock."""
        old = self._wfd
        try:
            os.fdatasync(old)
        except OSError as exc:
            self._broken = str(exc)
            raise DurabilityError(str(self._reader.segment_path), str(exc)) from None
        first = self._reader.next_seq
        path = self.log_dir / segment_name(first)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise os_error(exc, path, "create the next segment") from None
        # The file exists, so readers roll over to it: from now on, so must we.
        self._swap_wfd(fd, first)
        self._reader.set_position(first, 0, first)
        try:
            fsync_dir(self.log_dir)
        except OSError as exc:
            self._broken = str(exc)
            raise DurabilityError(str(path), f"the new segment's directory entry: {exc}") from None

    def _make_durable(self, end: int) -> None:
        """Flush per the durability mode; ``end`` is where this append ended."""
        if end < 0 or self.durability == "none":
            return
        if self.durability == "batch":
            self._flusher.mark_dirty()
            return
        try:
            self._gate.flush(self._wfd, self._wfd_segment, end)
        except OSError as exc:
            self._broken = str(exc)
            raise DurabilityError(str(self._reader.segment_path), str(exc)) from None

    def _flush_to(self, segment: int, end: int) -> None:
        """A deferred flush (:meth:`Transaction.flush`): segment ``segment`` durable up to
        ``end``. Holds only the descriptor's lock, so other transactions go on meanwhile."""
        if end < 0 or self.durability == "none":  # (-1: a roll flushed the batch already)
            return
        if self.durability == "batch":
            self._flusher.mark_dirty()
            return
        with self._fd_lock:
            if self._broken:
                raise DurabilityError(str(self._reader.segment_path), self._broken)
            if self._wfd is None:
                raise EventStoreError(f"{self.path} was closed before a transaction's deferred flush")
            if self._wfd_segment != segment:
                return  # rolled since: the roll flushed the whole segment before starting the next
            try:
                self._gate.flush(self._wfd, segment, end)
            except OSError as exc:
                self._broken = str(exc)
                raise DurabilityError(str(self._reader.segment_path), str(exc)) from None

    def _flush_quietly(self) -> None:
        """The batch flusher's job: fdatasync the active segment now.

        Takes only the descriptor's lock, not the handle's: a long transaction
        body must not hold back the flush the interval promises.
        """
        with self._fd_lock:
            if self._wfd is None or self._closed:
                return
            try:
                os.fdatasync(self._wfd)
            except OSError as exc:
                self._broken = str(exc)
                log.error("flushing %s failed: %s", self._reader.segment_path, exc)

    def _ensure_writer(self) -> AppendLock:
        if os.getpid() != self._pid:
            raise EventStoreError(
                f"this EventLog handle for {self.path} was opened in process {self._pid}: "
                "open a new handle after fork"
            )
        if self._lock is None:
            self._lock = AppendLock(self.path / ".lock")
            self._gate = FlushGate(self.path)
        return self._lock

    def _ensure_wfd(self) -> None:
        seg = self._reader.segment_first
        if self._wfd is not None and self._wfd_segment == seg:
            return
        path = self._reader.segment_path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise os_error(exc, path, "open for appending") from None
        self._swap_wfd(fd, seg)

    def _swap_wfd(self, fd: int | None, segment: int) -> None:
        """Replace (or with None, drop) the append descriptor, closing the old one."""
        with self._fd_lock:
            if self._wfd is not None:
                os.close(self._wfd)
            self._wfd, self._wfd_segment = fd, segment

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(str(self.path))

    # -- maintenance -------------------------------------------------------
    def verify(self):
        """Scan the whole log; return a :class:`~eventstore.verify.VerifyReport`."""
        from .verify import verify

        self._check_open()
        return verify(self.log_dir)

    def repair(self):
        """Cut the log at its first damage, keeping every removed byte in quarantine.

        Takes the append lock. Returns a :class:`~eventstore.verify.RepairReport`
        saying exactly what was removed. Other open handles must reopen.
        """
        from .verify import repair

        self._check_open()
        with self._mutex:
            if self._in_tx:
                raise EventStoreError("repair() inside a transaction on the same handle: finish the transaction first")
            lock = self._ensure_writer()
            lock.acquire(self.lock_timeout)
            try:
                self._check_generation()
                with self._gate.rewriting():
                    report = repair(self.log_dir, self.quarantine_dir)
                    self._quarantine_snapshots_after(report)
                if report.changed:  # every other open handle's position is now void
                    self._generation = lock.bump_generation()
                # Start over: positions and the key index may describe cut records.
                self._swap_wfd(None, 0)
                self._reader.close()
                self._reader = LogReader(self.log_dir, roll_bytes=self.segment_bytes)
                self._keys.clear()
                self._keys_before = 0
                self._unseen = []
                self._collect = False
                self._poll()
            finally:
                lock.release()
        return report

    def _quarantine_snapshots_after(self, report) -> None:
        """Snapshots of records a repair cut describe a past that no longer exists: set them aside."""
        if not report.changed:
            return
        store = self.snapshots
        stale = [seq for seq in store.seqs() if seq > report.kept_through]
        if not stale:
            return
        self.quarantine_dir.mkdir(exist_ok=True)
        for seq in stale:
            source = store.path(seq)
            target = self.quarantine_dir / f"repair-snapshot-{source.name}"
            os.replace(source, target)
            report.quarantined.append(str(target))
        fsync_dir(self.quarantine_dir)
        fsync_dir(store.directory)

    # -- snapshots ---------------------------------------------------------
    def save_snapshot(self, seq: int, data: bytes) -> Path:
        """Store opaque ``data`` describing the state after record ``seq``, atomically."""
        with self._mutex:
            self._check_open()
            self._poll()
            last = self._reader.next_seq - 1
            # at the end, this handle knows where the next record will start: a hint for readers
            position = (self._reader.segment_first, self._reader.offset) if seq == last else None
        if not isinstance(seq, int) or not 0 <= seq <= last:
            raise InvalidArgumentError(f"snapshot seq must be between 0 and the log's last seq {last}, not {seq!r}")
        if 0 < seq < last:  # a state after part of a batch never existed for any reader
            cursor = self.tail(seq + 1)
            try:
                if cursor.next_seq != seq + 1:
                    raise InvalidArgumentError(f"seq {seq} is inside a batch (which starts at seq {cursor.next_seq}): "
                                               "a snapshot describes the state after a whole batch")
            finally:
                cursor.close()
        return self.snapshots.save(seq, data, position)

    def prune_snapshots(self, keep: int = 3) -> list[int]:
        """Delete all but the ``keep`` newest snapshots (they are derived data)."""
        return self.snapshots.prune(keep)

    def load_snapshot(self, max_seq: int | None = None):
        """The newest intact snapshot at or before ``max_seq`` and the log's end, or None.

        A damaged snapshot, or one beyond the log's end, is skipped with a
        warning: snapshots are derived data and never trusted over the log.
        """
        last = self.last_seq
        limit = last if max_seq is None else min(max_seq, last)
        return self.snapshots.load(limit, last)

    def resume(self, seq: int | Snapshot, position: tuple[int, int] | None = None) -> None:
        """Tell a fresh handle that its caller already holds the state up to ``seq``
        (from a snapshot), so that it never reads the records before it.

        Without this, a handle's first transaction reads the whole log, once to
        find its end and once to hand every record to the caller. After it, the
        handle starts right after ``seq`` (at ``position`` when given and the
        file agrees, see :meth:`LogReader.jump`; otherwise by a scan of one
        segment) and its first transaction's ``tx.records`` start at ``seq + 1``.
        Idempotency keys stay exact: a key not seen since ``seq`` is looked up
        in the records before it, read once, on the first such miss. Mid-log
        damage before ``seq`` is then found by readers and :meth:`verify`, not
        by this handle's appends. Raises :class:`InvalidArgumentError` when the
        handle was used already or the log does not reach ``seq``.
        """
        if isinstance(seq, Snapshot):  # the protocol's form: a snapshot from start()
            seq, position = seq.seq, seq.position
        with self._mutex:
            self._check_open()
            if self._reader.next_seq != 1 or self._collect or self._in_tx:
                raise InvalidArgumentError("resume() is for a fresh handle, before it reads or writes")
            if not isinstance(seq, int) or seq < 0:
                raise InvalidArgumentError(f"seq must be an int >= 0, not {seq!r}")
            if seq == 0:
                return
            record = self._reader.jump(*position, seq) if position is not None else None
            if record is None:  # no usable hint: scan for the position, then check the record before it
                self._reader.close()
                self._reader = LogReader(self.log_dir, first_seq=seq + 1, roll_bytes=self.segment_bytes)
                record = self._reader.record_before(seq) if self._reader.next_seq == seq + 1 else None
                if record is None:
                    last = self._reader.next_seq - 1
                    self._reader.close()
                    self._reader = LogReader(self.log_dir, roll_bytes=self.segment_bytes)
                    raise InvalidArgumentError(
                        f"cannot resume after seq {seq}: the log holds {last} records, or record {seq} is "
                        "damaged (a torn tail, which the next append from the start will cut)")
            self._last_ts = record.ts  # ts never goes backwards, from the first append on
            self._keys_before = seq  # keys of records 1..seq: not read yet
            self._collect = True  # owed only what comes after seq
            self._unseen = []

    def _key(self, key: str) -> tuple[int, int] | None:
        """(first, last) seq of the append made with ``key``, reading the records before a
        :meth:`resume` point the first time a key is not found after it."""
        found = self._keys.get(key)
        if found is None and self._keys_before:
            older: dict[str, tuple[int, int]] = {}
            for record in self._read(1, self._keys_before):
                if record.cmd is not None:
                    first = older.get(record.cmd)
                    older[record.cmd] = (first[0] if first else record.seq, record.seq)
            for k, (first, last) in older.items():  # later appends with a key extend its range
                mine = self._keys.get(k)
                self._keys[k] = (first, mine[1]) if mine else (first, last)
            self._keys_before = 0
            found = self._keys.get(key)
        return found

    # -- the rest of the storage protocol (eventstore.store.Store) --------------
    @property
    def name(self) -> str:
        """The store's name (``file:`` and the directory holding this project's log)."""
        return f"file:{self.path.parent}"

    def start(self) -> tuple[Snapshot | None, LogReader]:
        """:meth:`snapshot_and_tail`: the protocol's name for how a reader starts."""
        return self.snapshot_and_tail()

    def snapshot_seqs(self) -> list[int]:
        return self.snapshots.seqs()

    def claim_snapshot(self, after: int) -> bool:
        """One writer for the next snapshot: :meth:`SnapshotStore.claim` (an ``O_EXCL`` marker)."""
        return self.snapshots.claim(after)

    def release_snapshot(self, after: int) -> None:
        self.snapshots.release(after)

    def snapshot_and_tail(self) -> tuple[Any, LogReader]:
        """The newest intact snapshot the log still covers, and a :meth:`tail` cursor
        right after it (from seq 1 when there is none): how a reader starts fast.

        Unlike :meth:`load_snapshot` this never decodes the records a snapshot
        covers. A snapshot taken at the log's end records where the next record
        starts; the cursor jumps there after checking that the line before it
        is the snapshot's seq and ends a batch, O(one line). Otherwise the
        cursor's seek (a scan of line prefixes in one segment) finds it. Either
        shows whether the log still reaches the snapshot's seq: a snapshot it
        does not reach (the log was cut by a repair or restore) or a damaged
        one is skipped with a warning. O(snapshot size) + that check.
        """
        self._check_open()
        for seq in reversed(self.snapshots.seqs()):
            snap = self.snapshots.read(seq)  # (warns when damaged)
            if snap is None:
                continue
            if seq == 0:  # the state before any record: the cursor starts at the beginning
                return snap, self.tail(1)
            cursor = self.tail(1)
            usable = snap.position is not None and cursor.jump(*snap.position, seq) is not None
            if not usable:  # no usable hint: scan line prefixes for the position, then check
                cursor.close()  # the record before it whole (a scan trusts the prefixes)
                cursor = self.tail(seq + 1)
                usable = cursor.next_seq == seq + 1 and cursor.record_before(seq) is not None
            if usable:
                return snap, cursor
            cursor.close()
            warnings.warn(f"snapshot {snap.path} is for seq {seq}, beyond what the log holds intact: ignored",
                          CorruptSnapshotWarning, stacklevel=2)
        return None, self.tail(1)


def _check_from_seq(from_seq: object) -> None:
    if not isinstance(from_seq, int) or from_seq < 1:
        raise InvalidArgumentError(f"from_seq must be an int >= 1, not {from_seq!r}")
