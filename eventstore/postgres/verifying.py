"""``PostgresStore.verify``: what a healthy log in PostgreSQL looks like, checked.

The database already guarantees each record's integrity (its checksums, the ``json``
type, the primary key), so what is checked is the log's own shape: seqs contiguous from 1,
every batch whole (each record names its batch's last seq, and that record exists), and
the recorded end (``projects.last_seq``) equal to the last record. Problems are reported
with the file store's kinds (:mod:`eventstore.errors`), ``file`` naming the table and
``offset`` the seq. O(records), read in pages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import sql

from ..errors import GAP, INCOMPLETE_BATCH, MALFORMED
from ..verify import Problem, VerifyReport

if TYPE_CHECKING:
    from .store import PostgresStore

PAGE = 10_000


def verify(store: PostgresStore) -> VerifyReport:
    report = VerifyReport(store.where)
    table = f"{store.store.schema}.events"
    query = sql.SQL("SELECT seq, batch_end FROM {}.events WHERE project = %s AND seq > %s "
                    "ORDER BY seq LIMIT %s").format(sql.Identifier(store.store.schema))
    expected, batch_end, intact, after, damaged = 1, None, 0, 0, False
    while True:
        with store._session("verifying") as conn:
            rows = conn.execute(query, (store.project, after, PAGE)).fetchall()
        for seq, end in rows:
            report.valid_records += 1
            if seq != expected:
                report.problems.append(Problem(GAP, table, seq, expected, f"seq {seq} where seq {expected} was expected"))
                damaged = True
            elif batch_end is not None and end != batch_end:
                report.problems.append(Problem(INCOMPLETE_BATCH, table, seq, seq,
                                               f"the batch ending at seq {batch_end} stops before it"))
                damaged = True
            expected = seq + 1
            batch_end = None if end == seq else end
            if batch_end is None and not damaged:
                intact = seq
            if damaged:
                report.beyond.append(seq)
        if len(rows) < PAGE:
            break
        after = rows[-1][0]
    if batch_end is not None:
        report.problems.append(Problem(INCOMPLETE_BATCH, table, expected, expected,
                                       f"the last batch should end at seq {batch_end}"))
    end = store.last_seq
    if end != expected - 1:
        report.problems.append(Problem(MALFORMED, f"{store.store.schema}.projects", end, expected - 1,
                                       f"the recorded end is seq {end} but the last record is seq {expected - 1}"))
    report.intact_through = intact
    return report
