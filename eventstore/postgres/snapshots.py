"""Snapshots of a PostgreSQL log: rows of ``snapshots`` (bytes and a CRC-32), and the claim
that makes one process write each periodic snapshot (rows of ``snapshot_claims``).

Snapshots are derived data, as in the file store: a row whose checksum fails is skipped
with a :class:`~eventstore.snapshots.CorruptSnapshotWarning`, and any row may be deleted.
A claim outlives the connection that made it (a process that won a claim and exited
still holds it) until it is released or is :data:`CLAIM_STALE_S` old.
"""

from __future__ import annotations

import warnings
import zlib
from typing import Any

from ..errors import InvalidArgumentError
from ..snapshots import CorruptSnapshotWarning, Snapshot

#: a snapshot claim older than this (seconds) is taken over: its holder died or gave up
CLAIM_STALE_S = 30.0


class SnapshotMethods:
    """The snapshot half of :class:`~eventstore.postgres.store.PostgresStore` (a mixin: it uses the
    handle's ``_session``, ``_q``, ``project``, ``last_seq`` and ``store``)."""

    project: str
    store: Any
    _q: dict[str, str]

    def save_snapshot(self, seq: int, data: bytes) -> str:
        """Store ``data`` describing the state after record ``seq`` (replacing one for the same
        seq), atomically (one statement). A seq inside a batch is refused: that state never
        existed for any reader. Returns where it is (for messages)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"snapshot data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        with self._session("saving a snapshot of") as conn:
            last, batch_end = conn.execute(self._q["batch_end"], (seq if isinstance(seq, int) else -1, self.project)
                                           ).fetchone()
            if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= last:
                raise InvalidArgumentError(
                    f"snapshot seq must be between 0 and the log's last seq {last}, not {seq!r}")
            if seq > 0 and batch_end != seq:
                raise InvalidArgumentError(f"seq {seq} is inside a batch (which ends at seq {batch_end}): "
                                           "a snapshot describes the state after a whole batch")
            conn.execute(self._q["save_snapshot"], (self.project, seq, data, zlib.crc32(data)))
        return self._snapshot_where(seq)

    def load_snapshot(self, max_seq: int | None = None) -> Snapshot | None:
        """The newest intact snapshot at or before ``max_seq`` and the log's end, or None. One whose
        checksum fails is skipped with a CorruptSnapshotWarning. O(snapshots tried)."""
        last = self.last_seq
        limit = last if max_seq is None else min(max_seq, last)
        with self._session("loading a snapshot of") as conn:
            rows = conn.execute(self._q["snapshots_upto"], (self.project, limit)).fetchall()
        for (seq,) in rows:
            with self._session("loading a snapshot of") as conn:
                row = conn.execute(self._q["snapshot"], (self.project, seq)).fetchone()
            if row is None:
                continue  # pruned meanwhile
            data, crc = bytes(row[0]), row[1]
            if zlib.crc32(data) != crc:
                warnings.warn(f"snapshot {self._snapshot_where(seq)} ignored: checksum mismatch",
                              CorruptSnapshotWarning, stacklevel=2)
                continue
            return Snapshot(seq, data, self._snapshot_where(seq))  # type: ignore[arg-type]
        return None

    def snapshot_seqs(self) -> list[int]:
        with self._session("listing the snapshots of") as conn:
            return [seq for (seq,) in conn.execute(self._q["snapshot_seqs"], (self.project,))]

    def prune_snapshots(self, keep: int = 3) -> list[int]:
        """Delete all but the ``keep`` newest snapshots; return the seqs deleted, ascending."""
        with self._session("pruning the snapshots of") as conn:
            rows = conn.execute(self._q["prune"], (self.project, self.project, max(keep, 0))).fetchall()
        return sorted(seq for (seq,) in rows)

    def claim_snapshot(self, after: int) -> bool:
        """Be the one writer of the snapshot following snapshot ``after``: True for the first
        caller (a row in ``snapshot_claims``), False while that claim is younger than
        :data:`CLAIM_STALE_S`; an older one is taken over. The winner drops older claims."""
        with self._session("claiming a snapshot of") as conn:
            won = conn.execute(self._q["claim"], (self.project, after, CLAIM_STALE_S)).fetchone() is not None
            if won:
                conn.execute(self._q["drop_old_claims"], (self.project, after))
        return won

    def release_snapshot(self, after: int) -> None:
        with self._session("releasing a snapshot claim of") as conn:
            conn.execute(self._q["release"], (self.project, after))

    def _snapshot_where(self, seq: int) -> str:
        return f"{self.store.shown}#{self.project}/snapshots/{seq}"


#: the statements, with ``{t}`` the schema
SNAPSHOT_QUERIES = {
    "batch_end": "SELECT p.last_seq, e.batch_end FROM {t}.projects p "
                 "LEFT JOIN {t}.events e ON e.project = p.name AND e.seq = %s WHERE p.name = %s",
    "save_snapshot": "INSERT INTO {t}.snapshots (project, seq, data, crc) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT (project, seq) DO UPDATE SET data = excluded.data, crc = excluded.crc, "
                     "created_at = now()",
    "snapshots_upto": "SELECT seq FROM {t}.snapshots WHERE project = %s AND seq <= %s ORDER BY seq DESC",
    "snapshot": "SELECT data, crc FROM {t}.snapshots WHERE project = %s AND seq = %s",
    "snapshot_seqs": "SELECT seq FROM {t}.snapshots WHERE project = %s ORDER BY seq",
    "prune": "DELETE FROM {t}.snapshots WHERE project = %s AND seq NOT IN "
             "(SELECT seq FROM {t}.snapshots WHERE project = %s ORDER BY seq DESC LIMIT %s) RETURNING seq",
    "claim": "INSERT INTO {t}.snapshot_claims AS c (project, after) VALUES (%s, %s) "
             "ON CONFLICT (project, after) DO UPDATE SET claimed_at = clock_timestamp() "
             "WHERE c.claimed_at < clock_timestamp() - make_interval(secs => %s) RETURNING 1",
    "drop_old_claims": "DELETE FROM {t}.snapshot_claims WHERE project = %s AND after < %s",
    "release": "DELETE FROM {t}.snapshot_claims WHERE project = %s AND after = %s",
}
