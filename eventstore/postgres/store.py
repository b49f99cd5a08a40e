"""PostgresStore: one project's log in a PostgreSQL schema (the storage protocol).

The write path (one database transaction per ``append`` or ``transaction`` block)::

    prepare   validate + serialise each event (eventstore.record)   before BEGIN, O(size)
    lock      BEGIN; SELECT ... FROM projects WHERE name = p          the project's row lock:
              FOR UPDATE (the log's end, its last ts, the clock)      appends serialise here
    catch up  SELECT the records after this handle's position        O(new records); pipelined
                                                                     with the lock: one round trip
    decide    the caller's body; tx.seen(key) from the handle's      caller's cost; no query when
              index of keys (or one primary-key lookup)              the handle has read it all
    write     INSERT events, INSERT commands, UPDATE projects,       one statement (the rows as
              pg_notify(channel, last seq)                           JSON), pipelined with the
                                                                     COMMIT: one round trip
    COMMIT    without waiting for the WAL flush: the lock is released, the NOTIFY sent
    flush     SELECT txid_current() committed synchronously: returns   outside the lock, so
              once the WAL is on disk past our commit (durability      concurrent writers share
              "always"; ``defer_flush`` leaves it to ``tx.flush()``)   the server's WAL flush
    ack       return AppendResult

Guarantees, as the file store's (``tests/conformance`` checks both): seqs contiguous
from 1 (the row lock orders appends, and a reader's snapshot never sees a later batch
without the earlier ones, since the earlier committed before the later took the lock);
a batch, or a whole transaction, is one commit, so readers see it whole or not at all;
``expected_seq`` and idempotency keys are checked under the lock (``commands`` has one
row per key and project, its primary key); ``ts`` is the server's clock read under the
lock, never earlier than the previous record's. Readers never take the lock.

A handle holds one connection (autocommit; a lost one is replaced on the next call) and
is safe to share between threads: its calls serialise on a mutex. ``follow`` opens a
connection of its own for LISTEN. A handle must not cross ``fork``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg import sql

from ..buffered import AppendResult, BufferedAppends
from ..errors import (
    DurabilityError,
    EventStoreError,
    InvalidArgumentError,
    InvalidEventError,
    LockTimeoutError,
    LogClosedError,
    LogNotFoundError,
)
from ..log import DEFAULT_MAX_RECORD_BYTES, DURABILITY_MODES
from ..record import Record, prepare
from ..snapshots import Snapshot
from .connect import connect, first_line
from .errors import ConnectionLostError
from .names import StoreName, parse
from .schema import VERSION, migrate, schema_version
from .snapshots import SNAPSHOT_QUERIES, SnapshotMethods

#: records fetched per query by readers (keyset pages: memory stays bounded on a long log)
PAGE = 2000
#: after a connection died mid-append: how long to wait for the dead session's lock to end
RESOLVE_LOCK_S = 5.0
_DATA_PREFIX = len(b',"data":')
#: the file store's timestamp form, from the server's clock
_NOW_SQL = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


class Transaction(BufferedAppends):
    """One read-decide-append step of :meth:`PostgresStore.transaction` (see the protocol's
    :class:`eventstore.store.Transaction`). Appends are buffered, and written as one batch
    in the same database transaction as the lock, when the block exits."""

    def __init__(self, owner: PostgresStore, records: list[Record], base: int, ts: str):
        self.records = records
        self._owner = owner
        self._base = base  # the log's end when the transaction began
        self._start_buffer()  # rows (id, type, cmd, data json), inserted together on exit
        self._ts = ts
        self._closed = False
        self._unflushed = False  # committed under the lock, the WAL flush still owed (defer_flush)

    def flush(self) -> None:
        """Make what the block committed durable (``defer_flush``): wait for the server's WAL flush
        past its commit. Idempotent; a no-op when nothing is owed (nothing written, or the block
        flushed, or ``durability`` is not ``always``)."""
        if self._unflushed:
            self._owner._flush()
            self._unflushed = False

    def seen(self, idempotency_key: str) -> AppendResult | None:
        """The result of the append made with this key (buffered here, or in the log), or None.
        O(1): one primary-key lookup, under the lock."""
        done = self._keys.get(idempotency_key)
        if done is None:
            found = self._owner._key(idempotency_key, self._base)
            done = None if found is None else AppendResult(found[0], found[1], True)
        return None if done is None else AppendResult(done.first_seq, done.last_seq, True)

    def append(self, events: Iterable[Mapping[str, Any]], expected_seq: int | None = None,
               idempotency_key: str | None = None) -> AppendResult:
        """Buffer a batch; the same contract as :meth:`PostgresStore.append`."""
        if self._closed:
            raise EventStoreError("this transaction has ended: appends go inside its with block")
        return self._add(self._owner._prepare(events, idempotency_key), expected_seq, idempotency_key)


class PostgresStore(SnapshotMethods):
    """One project's log in a PostgreSQL store; see the module docstring."""

    @classmethod
    def open(cls, name: str, project: str, create: bool = False, *, durability: str = "always",
             max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, lock_timeout: float | None = None,
             batch_interval_ms: int | None = None) -> PostgresStore:
        """Open ``project`` in the store named ``name`` (a ``postgresql://`` URL); with ``create``,
        make it (and the schema, and its tables) if missing. Runs pending migrations.

        ``durability``: see :func:`eventstore.postgres.connect.connect`; ``lock_timeout``:
        seconds an append waits for the project's lock before LockTimeoutError (None: forever).
        ``batch_interval_ms`` is accepted for symmetry with the file store and unused (the
        server's WAL writer decides). Raises LogNotFoundError, InvalidArgumentError,
        StoreUnavailableError, NotALogError (a schema newer than this code)."""
        if durability not in DURABILITY_MODES:
            raise InvalidArgumentError(f"durability must be one of {DURABILITY_MODES}, not {durability!r}")
        if max_record_bytes < 256:
            raise InvalidArgumentError("max_record_bytes must be at least 256")
        if lock_timeout is not None and (not isinstance(lock_timeout, (int, float)) or lock_timeout < 0):
            raise InvalidArgumentError(f"lock_timeout must be a number of seconds >= 0, not {lock_timeout!r}")
        store = parse(name)
        conn = connect(store, durability)
        try:
            where = f"{store.shown} (project {project!r})"
            found = schema_version(conn, store.schema)
            if found is None and not create:
                raise LogNotFoundError(where)
            if found != VERSION:
                migrate(conn, store.schema, store.shown)
            projects = sql.SQL("{}.projects").format(sql.Identifier(store.schema))
            if create:
                conn.execute(sql.SQL("INSERT INTO {} (name) VALUES (%s) ON CONFLICT DO NOTHING").format(projects),
                             (project,))
            elif conn.execute(sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(projects),
                              (project,)).fetchone() is None:
                raise LogNotFoundError(where)
        except psycopg.Error as exc:
            conn.close()
            raise EventStoreError(f"opening project {project!r} in {store.shown} failed: {first_line(exc)}") from None
        except BaseException:
            conn.close()
            raise
        return cls(store, project, conn, durability, max_record_bytes, lock_timeout)

    def __init__(self, store: StoreName, project: str, conn: psycopg.Connection, durability: str,
                 max_record_bytes: int, lock_timeout: float | None):
        self.store = store
        self.project = project
        self.durability = durability
        self.max_record_bytes = max_record_bytes
        self.lock_timeout = lock_timeout
        self.where = f"{store.shown} (project {project!r})"
        #: the LISTEN/NOTIFY channel of this project: one per (schema, project), at most 63 bytes
        self.channel = "sp_" + hashlib.sha1(f"{store.schema}\0{project}".encode()).hexdigest()
        self._conn = conn
        self._pid = os.getpid()
        self._mutex = threading.RLock()
        self._closed = False
        self._in_tx = False
        self._collect = False  # collect unseen records once a transaction (or catch_up) was used
        self._pos = 0  # the last seq handed over, own, or kept in _unseen (when collecting)
        self._unseen: list[Record] = []
        self._used = False  # resume() is for a handle that has not read or written yet
        self._unknown = False  # the last _resolve() could not find out whether an append committed
        # idempotency keys of records 1.._pos (when collecting): tx.seen() answers from it without
        # a query; after resume(seq) the keys before seq are loaded on the first miss
        self._keys: dict[str, tuple[int, int]] = {}
        self._keys_before = 0  # keys of records 1..this seq are not in _keys yet
        t = sql.Identifier(store.schema)
        self._q = {name: sql.SQL(text).format(t=t).as_string(conn) for name, text in _QUERIES.items()}

    # -- the store's identity -------------------------------------------------------
    @property
    def name(self) -> str:
        """The store's name, as :func:`eventstore.open_store` takes it (the URL as given)."""
        return self.store.name

    def __repr__(self) -> str:
        return f"<PostgresStore {self.where} ({'closed' if self._closed else self.durability})>"

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._mutex:
            if not self._closed:
                self._closed = True
                self._conn.close()

    # -- reading --------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        """The seq of the last committed record (0 when empty). Lock-free: one query."""
        with self._session("reading") as conn:
            row = conn.execute(self._q["end"], (self.project,)).fetchone()
        if row is None:
            raise LogNotFoundError(self.where)
        return row[0]

    def read(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Record]:
        """Records ``from_seq..to_seq`` (inclusive; to the end when None). Lock-free; fetched in
        pages of :data:`PAGE` by seq, each page under the handle's mutex only. O(records read)."""
        self._check_open()
        _check_from_seq(from_seq)
        if to_seq is not None and (not isinstance(to_seq, int) or to_seq < 0):
            raise InvalidArgumentError(f"to_seq must be an int >= 0 or None, not {to_seq!r}")
        return self._pages(from_seq, to_seq)

    def _pages(self, from_seq: int, to_seq: int | None) -> Iterator[Record]:
        nxt = from_seq
        while to_seq is None or nxt <= to_seq:
            page = self._page(nxt, to_seq)
            yield from page
            if len(page) < PAGE:
                return
            nxt = page[-1].seq + 1

    def _page(self, from_seq: int, to_seq: int | None) -> list[Record]:
        """Up to PAGE records from ``from_seq`` (to ``to_seq``), in seq order. One query."""
        upper = to_seq if to_seq is not None else 2**62
        with self._session("reading") as conn:
            rows = conn.execute(self._q["page"], (self.project, from_seq, upper, PAGE)).fetchall()
        return self._records(rows)

    @staticmethod
    def _records(rows: list[tuple]) -> list[Record]:
        loads = orjson.loads
        return [Record(seq, rid, typ, ts, cmd, loads(data)) for seq, rid, typ, ts, cmd, data in rows]

    def tail(self, from_seq: int = 1):
        """A resumable cursor (:class:`~eventstore.postgres.reading.PgCursor`): each ``poll()``
        yields what was committed since the previous one. O(new records) a poll."""
        from .reading import PgCursor

        self._check_open()
        _check_from_seq(from_seq)
        return PgCursor(self, from_seq)

    def follow(self, from_seq: int = 1, timeout: float | None = None, stop_event: Any = None) -> Iterator[Record]:
        """Records from ``from_seq`` on, waiting for new ones through LISTEN/NOTIFY (each commit
        that appends sends one NOTIFY on the project's channel): no polling of the table.
        Ends after ``timeout`` seconds without a record, or once ``stop_event.is_set()``."""
        from .reading import follow

        self._check_open()
        _check_from_seq(from_seq)
        return follow(self, from_seq, timeout, stop_event)

    def catch_up(self) -> list[Record]:
        """What others committed that this handle has not handed over yet, read without the lock
        (the whole log on a fresh handle, or what follows its :meth:`resume` point)."""
        with self._mutex:
            self._check_open()
            if self._in_tx:
                raise EventStoreError("catch_up() inside a transaction: its records are tx.records")
            self._used = True
            if not self._collect:
                self._collect = True
            self._collect_unseen(None)
            records, self._unseen = self._unseen, []
            return records

    def _collect_unseen(self, end: int | None) -> None:
        """Move the records after ``_pos`` (up to ``end``) into ``_unseen``. O(new records); no query
        when the handle is known to be at ``end`` already (a writer that is up to date)."""
        if end is not None and self._pos >= end:
            return
        for record in self._pages(self._pos + 1, end):
            self._absorb(record)

    def _absorb(self, record: Record) -> None:
        """A collected record: owed to the next transaction, and its key indexed."""
        self._unseen.append(record)
        self._pos = record.seq
        if record.cmd is not None:
            known = self._keys.get(record.cmd)
            self._keys[record.cmd] = (known[0] if known else record.seq, record.seq)

    # -- appending ------------------------------------------------------------------
    def append(self, events: Iterable[Mapping[str, Any]], expected_seq: int | None = None,
               idempotency_key: str | None = None) -> AppendResult:
        """Append one batch atomically (one commit). ConcurrencyConflict unless the log ends at
        ``expected_seq`` (when given); a key already in the log returns the original result
        (``duplicate=True``) and writes nothing. Returns once committed."""
        rows = self._prepare(events, idempotency_key)  # fail fast, before BEGIN
        with self._locked(collect=False) as tx:
            return tx._add(rows, expected_seq, idempotency_key)

    @contextmanager
    def transaction(self, since: int | None = None, defer_flush: bool = False) -> Iterator[Transaction]:
        """Hold the project's lock (its ``projects`` row, FOR UPDATE) for one read-decide-append
        step; ``tx.records`` are the records this handle has not been shown (with ``since``:
        every record after that seq). The appends commit, as one batch, when the block exits
        (and are flushed before it returns); an exception discards them. ``defer_flush``: the
        exit commits (others may see the records) but leaves the WAL flush to ``tx.flush()``."""
        if since is not None and (not isinstance(since, int) or since < 0):
            raise InvalidArgumentError(f"since must be an int >= 0, not {since!r}")
        with self._locked(collect=True, since=since, defer_flush=defer_flush) as tx:
            yield tx

    @contextmanager
    def _locked(self, collect: bool, since: int | None = None, defer_flush: bool = False) -> Iterator[Transaction]:
        """BEGIN, lock the project's row, catch up, hand a Transaction over, write, COMMIT
        (without waiting for the WAL flush), then flush: the lock is not held across the flush."""
        self._check_open()
        with self._mutex:
            if self._in_tx:
                raise EventStoreError("this handle is already in a transaction: append through that "
                                      "transaction's tx.append, or open another handle")
            conn = self._connection()
            self._in_tx = True
            self._used = True
            tx: Transaction | None = None
            records: list[Record] = []
            handed = False
            phase = "locking"
            try:
                try:
                    # pipelined: BEGIN, the lock and the first page of what is new go in one round trip;
                    # the writes and COMMIT in another (at the pipeline's exit)
                    with conn.pipeline(), conn.transaction():
                        if self.lock_timeout is not None:
                            conn.execute("SELECT set_config('lock_timeout', %s, true)",
                                         (f"{max(1, int(self.lock_timeout * 1000))}ms",))
                        if collect and not self._collect:
                            self._collect = True
                        locked = conn.execute(self._q["lock"], (self.project,))
                        # (runs once the lock is held: under it, everything committed is everything)
                        ahead = conn.execute(self._q["page"], (self.project, self._pos + 1, 2**62, PAGE)) \
                            if self._collect else None
                        row = locked.fetchone()
                        if row is None:
                            raise LogNotFoundError(self.where)
                        end, last_ts, now = row
                        phase = "reading"
                        if ahead is not None:
                            page = self._records(ahead.fetchall())
                            for record in page:
                                self._absorb(record)
                            if len(page) == PAGE:
                                self._collect_unseen(end)
                        if collect:
                            records, self._unseen = self._unseen, []
                        if since is not None:
                            records = list(self._pages(since + 1, end))
                        tx = Transaction(self, records, end, max(now, last_ts))
                        handed = True
                        phase = "deciding"
                        yield tx
                        if tx._buffer:
                            phase = "writing"
                            self._write(conn, tx)
                        phase = "committing"
                except psycopg.Error:
                    if not (conn.broken or conn.closed) and conn.pgconn.pipeline_status:
                        # a pipeline the failure left busy ("cannot exit pipeline mode while busy": the
                        # server went away mid-pipeline): the connection is unusable, as good as lost
                        conn.close()
                    # the connection died while the writes or the COMMIT were under way: find out
                    if not (tx is not None and tx._buffer and phase in ("writing", "committing")
                            and (conn.broken or conn.closed) and self._resolve(tx)):
                        raise
                if tx._buffer and self._collect:
                    self._pos = tx.last_seq  # our own records: never handed back
                    for key, result in tx._keys.items():
                        self._keys[key] = (result.first_seq, result.last_seq)
                if tx._buffer and self.durability == "always":
                    tx._unflushed = True
                    if not defer_flush:
                        phase = "flushing"
                        try:
                            tx.flush()
                        except EventStoreError:
                            # committed, but the caller is told it failed: it must see these records
                            # again (its next transaction hands them over), or its state misses them
                            if self._collect and self._pos == tx.last_seq:
                                self._pos = tx._base
                            raise
            except psycopg.Error as exc:
                if collect and not handed:
                    self._unseen = records + self._unseen
                raise self._translate(exc, conn, phase) from None
            except BaseException:
                if collect and not handed:  # the caller never saw them: owe them still
                    self._unseen = records + self._unseen
                raise
            finally:
                self._in_tx = False
                if tx is not None:
                    tx._closed = True

    def _write(self, conn: psycopg.Connection, tx: Transaction) -> None:
        """Insert the transaction's records as one batch, its keys, the new end, and the NOTIFY,
        inside the locked transaction: queued in its pipeline, sent with the COMMIT.

        One statement whatever the batch's size (the rows travel as one JSON array, unnested by
        the server): a statement per row cost the server's thread driver work per event, the
        largest share of a served group (measured with ``stress.profile_server --store``)."""
        first, last, project = tx._base + 1, tx.last_seq, self.project
        # two JSON texts, [[id, type, cmd], ...] and [data, ...]: the data is JSON text already,
        # spliced in as it is (json_array_elements hands each back verbatim; an operator such as
        # -> would refuse a \u0000 in it), and a text parameter costs the driver nothing per row
        # (a Python list would be dumped element by element)
        meta = orjson.dumps([row[:3] for row in tx._buffer]).decode()
        data = "[" + ",".join(row[3] for row in tx._buffer) + "]"
        keys = [[key, r.first_seq, r.last_seq] for key, r in tx._keys.items() if not r.duplicate]
        with conn.cursor() as cur:  # (queued in _locked's pipeline, sent with the COMMIT)
            if self.durability == "always":  # the commit releases the lock at once; _flush() waits for the WAL
                cur.execute("SELECT set_config('synchronous_commit', 'off', true)")
            cur.execute(self._q["write"], (project, first, tx._ts, last, meta, data, project, orjson.dumps(keys).decode(),
                                           last, tx._ts, project, self.channel, str(last)))

    def _resolve(self, tx: Transaction) -> bool:
        """Whether ``tx`` committed, after its connection died while its writes or COMMIT were under
        way. On a new connection, take the project's lock (waiting at most :data:`RESOLVE_LOCK_S`):
        the dead session holds it until its transaction has ended, committed or rolled back; then
        look for the transaction's first record by its id (128 random bits). False when it is
        not there, or when that cannot be found out (the caller then says the outcome is unknown)."""
        try:
            fresh = connect(self.store, self.durability)
        except EventStoreError:
            self._unknown = True  # (no server to ask: the outcome is unknown, not "nothing written")
            return False
        self._conn = fresh  # (the old one is dead: the handle goes on with this one)
        try:
            with fresh.transaction():
                fresh.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(RESOLVE_LOCK_S * 1000)}ms",))
                fresh.execute(self._q["lock"], (self.project,))
                row = fresh.execute(self._q["id_at"], (self.project, tx._base + 1)).fetchone()
        except psycopg.Error:
            self._unknown = True
            return False
        self._unknown = False
        return row is not None and row[0] == tx._buffer[0][0]

    def _flush(self) -> None:
        """Wait until the server's WAL is flushed past this handle's last commit: one more
        transaction, empty but with a transaction id (so it writes a commit record), committed
        synchronously; WAL is flushed in order, so its flush covers every earlier commit, and
        concurrent writers' flushes share the server's group commit. One round trip.
        DurabilityError (or ConnectionLostError) when it fails: nothing is acknowledged."""
        try:
            with self._mutex:
                self._connection().execute("SELECT txid_current()")
        except psycopg.Error as exc:
            if self._conn.broken or self._conn.closed:
                raise ConnectionLostError(self.store.shown, self.project, "flushing an append to", first_line(exc),
                                          committed=None) from None
            raise DurabilityError(self.where, first_line(exc)) from None

    def _translate(self, exc: psycopg.Error, conn: psycopg.Connection, phase: str) -> EventStoreError:
        """A driver error during an append as one of ours, saying what and where."""
        if conn.broken or conn.closed:
            # writes and COMMIT travel together: _resolve() found out, unless it could not
            committed = None if phase == "flushing" or (phase in ("writing", "committing") and self._unknown) \
                else False
            return ConnectionLostError(self.store.shown, self.project, f"{phase} (an append to)", first_line(exc),
                                       committed)
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return LockTimeoutError(self.where, self.lock_timeout or 0.0)
        return EventStoreError(f"appending to {self.where} failed while {phase}: {first_line(exc)}; "
                               "nothing was written")

    def _prepare(self, events: Iterable[Mapping[str, Any]], key: str | None) -> list[tuple[str, str, str | None, str]]:
        """Validate and serialise a batch exactly as the file store does (the same JSON text):
        (id, type, cmd, data json) per event. O(size)."""
        if key is not None and (not isinstance(key, str) or not key or "\0" in key):
            raise InvalidArgumentError(f"idempotency_key must be a non-empty string without NUL, not {key!r}")
        if isinstance(events, (str, bytes, Mapping)):
            raise InvalidArgumentError("events must be a list of {'type', 'data'} dicts, not a single value")
        rows = []
        for i, event in enumerate(events):
            rid = os.urandom(16).hex()  # 128 random bits, as the file store
            prepared = prepare(i, event, rid, key, self.max_record_bytes)
            if "\0" in event["type"]:
                raise InvalidEventError(i, "'type' contains a NUL character, which PostgreSQL text cannot hold")
            rows.append((rid, event["type"], key, prepared.data[_DATA_PREFIX:].decode()))
        if not rows:
            raise InvalidArgumentError("a batch needs at least one event")
        return rows

    def _key(self, key: str, end: int | None = None) -> tuple[int, int] | None:
        """(first, last) seq of the append made with ``key``, or None. From the handle's index when
        it holds every key up to ``end`` (the log's end, under the lock), else one primary-key
        lookup. After a resume, the keys before it are loaded on the first use (one query)."""
        if self._collect and end is not None and self._pos >= end:
            if self._keys_before:
                with self._session("reading the idempotency keys of") as conn:
                    rows = conn.execute(self._q["keys_before"], (self.project, self._keys_before)).fetchall()
                for k, first, last in rows:
                    mine = self._keys.get(k)
                    self._keys[k] = (first, mine[1]) if mine else (first, last)
                self._keys_before = 0
            return self._keys.get(key)
        with self._session("reading") as conn:
            row = conn.execute(self._q["key"], (self.project, key)).fetchone()
        return None if row is None else (row[0], row[1])

    # -- starting fast ----------------------------------------------------------------
    def start(self) -> tuple[Snapshot | None, Any]:
        """The newest intact snapshot (or None), and a cursor right after it."""
        snapshot = self.load_snapshot()
        return snapshot, self.tail(1 if snapshot is None else snapshot.seq + 1)

    def resume(self, snapshot: Any) -> None:
        """Tell a fresh handle that its caller holds the state up to ``snapshot.seq`` (or an int
        seq): its first transaction hands over only the records after it. Keys stay exact (they
        are looked up in the ``commands`` table). InvalidArgumentError when the handle was
        used already or the log does not reach that seq."""
        seq = snapshot.seq if isinstance(snapshot, Snapshot) else snapshot
        with self._mutex:
            self._check_open()
            if self._used or self._in_tx:
                raise InvalidArgumentError("resume() is for a fresh handle, before it reads or writes")
            if not isinstance(seq, int) or seq < 0:
                raise InvalidArgumentError(f"seq must be an int >= 0, not {seq!r}")
            last = self.last_seq
            if seq > last:
                raise InvalidArgumentError(f"cannot resume after seq {seq}: the log holds {last} records")
            self._collect, self._pos, self._unseen, self._used = True, seq, [], True
            self._keys_before = seq

    # -- verify ----------------------------------------------------------------------------
    def verify(self):
        """Check the log: seqs contiguous from 1, every batch whole, the recorded end equal to
        the last record. A :class:`~eventstore.verify.VerifyReport`. O(records)."""
        from .verifying import verify

        self._check_open()
        return verify(self)

    # -- plumbing -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(self.where)

    def _connection(self) -> psycopg.Connection:
        """The handle's connection, replaced when the last one was lost. Under the mutex."""
        self._check_open()
        if os.getpid() != self._pid:
            raise EventStoreError(f"this handle on {self.where} was opened in process {self._pid}: "
                                  "open a new handle after fork")
        if self._conn.closed or self._conn.broken:
            self._conn.close()
            self._conn = connect(self.store, self.durability)
        return self._conn

    @contextmanager
    def _session(self, action: str) -> Iterator[psycopg.Connection]:
        """The connection under the mutex, for one lock-free statement or a few; a driver error
        becomes one of ours (ConnectionLostError when the connection died)."""
        with self._mutex:
            conn = self._connection()
            try:
                yield conn
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    raise ConnectionLostError(self.store.shown, self.project, action, first_line(exc)) from None
                raise EventStoreError(f"{action} {self.where} failed: {first_line(exc)}") from None


def _check_from_seq(from_seq: object) -> None:
    if not isinstance(from_seq, int) or from_seq < 1:
        raise InvalidArgumentError(f"from_seq must be an int >= 1, not {from_seq!r}")


#: every statement, with ``{t}`` the schema (formatted once per handle)
_QUERIES = {
    "end": "SELECT last_seq FROM {t}.projects WHERE name = %s",
    "lock": "SELECT last_seq, last_ts, " + _NOW_SQL + " FROM {t}.projects WHERE name = %s FOR UPDATE",
    "page": "SELECT seq, id, type, ts, cmd, data::text FROM {t}.events "
            "WHERE project = %s AND seq >= %s AND seq <= %s ORDER BY seq LIMIT %s",
    "key": "SELECT first_seq, last_seq FROM {t}.commands WHERE project = %s AND cmd = %s",
    "id_at": "SELECT id FROM {t}.events WHERE project = %s AND seq = %s",
    "keys_before": "SELECT cmd, first_seq, last_seq FROM {t}.commands WHERE project = %s AND first_seq <= %s",
    # a batch, its keys, the new end and the NOTIFY in one statement (the rows as one JSON array)
    "write": "WITH batch AS (INSERT INTO {t}.events (project, seq, id, type, ts, cmd, batch_end, data) "
             "SELECT %s, %s + e.n - 1, e.r->>0, e.r->>1, %s, e.r->>2, %s, e.data "
             "FROM ROWS FROM (json_array_elements(%s::json), json_array_elements(%s::json)) "
             "WITH ORDINALITY AS e(r, data, n)), "
             "keys AS (INSERT INTO {t}.commands (project, cmd, first_seq, last_seq) "
             "SELECT %s, k->>0, (k->>1)::bigint, (k->>2)::bigint FROM json_array_elements(%s::json) AS k) "
             "UPDATE {t}.projects SET last_seq = %s, last_ts = %s WHERE name = %s RETURNING pg_notify(%s, %s)",
    **SNAPSHOT_QUERIES,
}


def list_projects(name: str) -> list[str]:
    """See :func:`eventstore.postgres.list_postgres_projects`."""
    store = parse(name)
    conn = connect(store)
    try:
        if schema_version(conn, store.schema) is None:
            return []
        rows = conn.execute(sql.SQL("SELECT name FROM {}.projects").format(sql.Identifier(store.schema))).fetchall()
    except psycopg.Error as exc:
        raise EventStoreError(f"listing the projects of {store.shown} failed: {first_line(exc)}") from None
    finally:
        conn.close()
    return sorted(name for (name,) in rows)
