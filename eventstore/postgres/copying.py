"""Copying whole batches in and out of a PostgreSQL log, exactly (``eventstore.migrate``).

Unlike ``append``, these keep every field a record already has (seq, id, ts, cmd) and
the batch boundaries, so that a project moves between stores unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import orjson
from psycopg import sql

from ..errors import EventStoreError
from ..record import Record, prepare

if TYPE_CHECKING:
    from .store import PostgresStore

PAGE = 5000
_DATA_PREFIX = len(b',"data":')
#: no cap when copying: the records were accepted by their store already
_NO_LIMIT = 2**62


def read_batches(store: PostgresStore, upto: int, from_seq: int = 1) -> Iterator[list[Record]]:
    """The records ``from_seq``..``upto`` grouped in the batches they were committed in (``from_seq``
    starts a batch). O(records), in pages."""
    query = sql.SQL("SELECT seq, id, type, ts, cmd, batch_end, data::text FROM {}.events "
                    "WHERE project = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s").format(
        sql.Identifier(store.store.schema))
    batch: list[Record] = []
    after = from_seq - 1
    while after < upto:
        with store._session("copying") as conn:
            rows = conn.execute(query, (store.project, after, upto, PAGE)).fetchall()
        if not rows:
            break
        for seq, rid, typ, ts, cmd, end, data in rows:
            batch.append(Record(seq, rid, typ, ts, cmd, orjson.loads(data)))
            if end == seq:
                yield batch
                batch = []
        after = rows[-1][0]
    if batch:
        raise EventStoreError(f"{store.where}: the batch at seq {batch[0].seq} is cut at seq {upto}")


def write_batches(store: PostgresStore, batches: Iterable[list[Record]]) -> int:
    """Write ``batches`` into ``store``'s empty project in one database transaction (all or
    nothing), keeping every field; return the records written. EventStoreError when the
    project already holds records. O(records), streamed with COPY."""
    t = sql.Identifier(store.store.schema)
    project = store.project
    keys: dict[str, list[int]] = {}
    count, last_ts = 0, ""
    with store._session("copying into") as conn, conn.transaction():
        end = conn.execute(sql.SQL("SELECT last_seq FROM {}.projects WHERE name = %s FOR UPDATE").format(t),
                           (project,)).fetchone()
        if end is None or end[0] != 0:
            raise EventStoreError(f"{store.where} is not empty (it holds {end[0] if end else '?'} records): "
                                  "refusing to overwrite it")
        with conn.cursor() as cur, cur.copy(sql.SQL(
                "COPY {}.events (project, seq, id, type, ts, cmd, batch_end, data) FROM STDIN").format(t)) as copy:
            for batch in batches:
                batch_end = batch[-1].seq
                for i, r in enumerate(batch):
                    data = prepare(i, {"type": r.type, "data": r.data}, r.id, r.cmd, _NO_LIMIT).data[_DATA_PREFIX:]
                    copy.write_row((project, r.seq, r.id, r.type, r.ts, r.cmd, batch_end, data.decode()))
                    if r.cmd is not None:
                        span = keys.setdefault(r.cmd, [r.seq, r.seq])
                        span[1] = r.seq
                    count, last_ts = r.seq, r.ts
        with conn.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO {}.commands (project, cmd, first_seq, last_seq) "
                                    "VALUES (%s, %s, %s, %s)").format(t),
                            [(project, k, first, last) for k, (first, last) in keys.items()])
            cur.execute(sql.SQL("UPDATE {}.projects SET last_seq = %s, last_ts = %s WHERE name = %s").format(t),
                        (count, last_ts, project))
            cur.execute("SELECT pg_notify(%s, %s)", (store.channel, str(count)))
    return count
