"""Readers of a PostgreSQL log: the tail cursor and ``follow`` (LISTEN/NOTIFY).

Every commit that appends also runs ``pg_notify(channel, last_seq)`` on the project's
channel (:attr:`PostgresStore.channel`); PostgreSQL delivers it only once the commit is
visible, so a follower that wakes up always finds the records. ``follow`` LISTENs
*before* it reads, so a commit landing between "read to the end" and "wait" still
leaves a notification queued on the connection: no lost wake-up, no polling of the table.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
from psycopg import sql

from ..errors import EventStoreError
from ..record import Record
from .connect import connect, first_line
from .errors import ConnectionLostError

if TYPE_CHECKING:
    from .store import PostgresStore

#: how often a follower with a stop event looks at it while no notification comes (seconds):
#: the only periodic wake-up, and it reads nothing from the server
STOP_CHECK_S = 0.05


class PgCursor:
    """A resumable, lock-free reader: each :meth:`poll` yields every record committed after the
    previous one, in pages through the store handle's connection. Whole batches only, since a
    batch is one commit. O(new records) a poll."""

    def __init__(self, store: PostgresStore, from_seq: int):
        self._store = store
        self.next_seq = from_seq
        self._closed = False

    def poll(self) -> Iterator[Record]:
        if self._closed:
            raise EventStoreError("this cursor is closed")
        for record in self._store._pages(self.next_seq, None):
            self.next_seq = record.seq + 1
            yield record

    def close(self) -> None:
        self._closed = True


def follow(store: PostgresStore, from_seq: int, timeout: float | None, stop_event: Any) -> Iterator[Record]:
    """See :meth:`PostgresStore.follow`. Holds a connection of its own while it runs."""
    conn = connect(store.store, store.durability)
    query = sql.SQL("SELECT seq, id, type, ts, cmd, data::text FROM {}.events "
                    "WHERE project = %s AND seq >= %s ORDER BY seq LIMIT 2000").format(
        sql.Identifier(store.store.schema))
    nxt = from_seq
    try:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(store.channel)))
        while True:
            while True:  # read to the end, page by page
                rows = conn.execute(query, (store.project, nxt)).fetchall()
                for seq, rid, typ, ts, cmd, data in rows:
                    nxt = seq + 1
                    yield Record(seq, rid, typ, ts, cmd, orjson.loads(data))
                if len(rows) < 2000:
                    break
            if stop_event is not None and stop_event.is_set():
                return
            if not _wait(conn, timeout, stop_event):
                return
    except psycopg.Error as exc:
        raise ConnectionLostError(store.store.shown, store.project, "following", first_line(exc)) from None
    finally:
        conn.close()


def _wait(conn: psycopg.Connection, timeout: float | None, stop_event: Any) -> bool:
    """Wait for a notification on ``conn``: True when one came, False on the timeout or the
    stop event. Drains every notification already queued (one read serves them all)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        step = left if stop_event is None else min(STOP_CHECK_S, left if left is not None else STOP_CHECK_S)
        got = False
        for _ in conn.notifies(timeout=step, stop_after=1):
            got = True
        if got:
            return True
        if stop_event is not None and stop_event.is_set():
            return False
