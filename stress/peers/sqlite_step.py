"""The SQLite peer of the EventLog read-decide-append step (stdlib ``sqlite3``).

The database is set up for the same durability promise as an EventLog with
``durability="always"``: WAL journal with ``PRAGMA synchronous=FULL``, so a
``COMMIT`` returns only after the WAL is fsynced. One step is::

    BEGIN IMMEDIATE                      -- take the write lock (waits via busy_timeout)
    SELECT n FROM counter                -- read
    UPDATE counter SET n = n_read + 1    -- decide
    INSERT INTO events(type, data) ...   -- append the event (autoincrement id)
    COMMIT                               -- fsync the WAL, release the lock

Unlike the EventLog, SQLite fsyncs *while holding* its write lock, and a
waiter is not woken by the release: SQLite's busy handler sleeps and retries
(1, 2, 5, 10, ... up to 100 ms between tries), which is what the benchmark
shows under contention. Each worker process opens its own connection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

EVENT_TYPE = "counter.incremented"
BUSY_TIMEOUT_MS = 60_000
_PAD = "x" * 100


def create(db_path: str | Path) -> None:
    """Create the database with a counter row at 0 and an empty events table."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
        conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)")
        conn.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
        conn.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, data TEXT NOT NULL)"
        )
    finally:
        conn.close()


def connect(db_path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN), WAL, synchronous=FULL, 60 s busy timeout."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class SqliteCounterStep:
    """One worker's side of the benchmark: ``step()`` runs one transaction, returns its latency."""

    def __init__(self, db_path: str | Path, worker_id: int):
        self.worker_id = worker_id
        self.conn = connect(db_path)

    def warm_up(self) -> None:
        """Open the WAL index and page cache before the measured window starts."""
        self.conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()

    def step(self) -> float:
        """One durable read-decide-append transaction; seconds from BEGIN until COMMIT returned."""
        conn = self.conn
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        try:
            (n,) = conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()
            n += 1
            conn.execute("UPDATE counter SET n = ? WHERE id = 1", (n,))
            data = json.dumps({"n": n, "by": self.worker_id, "pad": _PAD}, separators=(",", ":"))
            conn.execute("INSERT INTO events (type, data) VALUES (?, ?)", (EVENT_TYPE, data))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return time.perf_counter() - start

    def close(self) -> None:
        self.conn.close()


def check(db_path: str | Path, reported_steps: int) -> list[str]:
    """Problems found after a run: lost or phantom updates, or events out of step with the counter.

    Checks that the counter equals the number of steps the workers reported,
    that there is one event per step, and that the events' ``n`` read in id
    order is exactly 1, 2, ..., N (no update was lost or applied twice).
    """
    conn = sqlite3.connect(db_path)
    try:
        (final_n,) = conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()
        ns = [json.loads(data)["n"] for (data,) in conn.execute("SELECT data FROM events ORDER BY id")]
    finally:
        conn.close()
    problems = []
    if final_n != reported_steps:
        problems.append(f"counter is {final_n} but workers reported {reported_steps} steps")
    if len(ns) != reported_steps:
        problems.append(f"{len(ns)} events but workers reported {reported_steps} steps")
    wrong = next((i for i, n in enumerate(ns, 1) if n != i), None)
    if wrong is not None:
        problems.append(f"event #{wrong} has n={ns[wrong - 1]}, expected {wrong} (lost or repeated update)")
    return problems
