"""FlushGroup: group commit among the threads that share one store handle.

A transaction opened with ``defer_flush`` is written when its block ends and made durable
by its ``flush()``; a later flush of the same handle covers every earlier write (the
storage protocol's promise: the file store's segment is append-only, PostgreSQL flushes
its WAL in order). So one thread flushes for a group:

- a writer whose write is not durable yet waits while another thread flushes, then finds
  its write covered, or becomes the next leader;
- the leader first lets the writers already under way (between :meth:`begin` and
  :meth:`written`) finish writing, for at most :data:`GATHER_S`, then flushes the newest
  transaction written so far: one flush for all of them.

Under contention the disk sees one flush per group, not one per insert (a handle's own
flushes would otherwise run one after the other); a lone writer never waits. O(1) per
insert besides the flush. A failed flush is raised to the thread that ran it; the threads
it would have covered flush again themselves (and fail likewise: a handle whose flush
failed never reports a later one as done).
"""

from __future__ import annotations

import threading
import time
from typing import Any

#: the longest a leader waits for writers already under way to join its flush (they are
#: normally done in a fraction of it: encoding and one append)
GATHER_S = 0.002


class FlushGroup:
    """One per handle: :meth:`begin` before an insert, :meth:`written` (or :meth:`abandoned`)
    once its transaction's block has ended, :meth:`flush` after that, outside any lock."""

    def __init__(self, gather_s: float = GATHER_S) -> None:
        self._gather_s = gather_s  # (0 where a flush costs nothing: durability batch or none)
        self._cond = threading.Condition()
        self._flushing = False
        self._under_way = 0  # writers between begin() and written()/abandoned()
        self._durable = 0  # every write numbered up to this one is durable
        self._count = 0  # writes numbered so far
        self._latest: Any = None  # the transaction of the newest write

    def begin(self) -> None:
        with self._cond:
            self._under_way += 1

    def abandoned(self) -> None:
        """The insert wrote nothing (refused, or failed)."""
        with self._cond:
            self._under_way -= 1
            self._cond.notify_all()

    def written(self, tx: Any) -> int:
        """Note a transaction whose block has ended (call in write order); its number."""
        with self._cond:
            self._under_way -= 1
            self._count += 1
            self._latest = tx
            self._cond.notify_all()
            return self._count

    def flush(self, number: int) -> None:
        """Return once write ``number`` is durable (flushing it, and the writes since, if nobody is)."""
        with self._cond:
            while self._durable < number and self._flushing:
                self._cond.wait()
            if self._durable >= number:
                return
            self._flushing = True
            deadline = time.monotonic() + self._gather_s
            while self._under_way > 0 and self._gather_s > 0:  # (writers queued for the lock: let them in on this flush)
                left = deadline - time.monotonic()
                if left <= 0 or not self._cond.wait(left):
                    break
            tx, upto = self._latest, self._count
        done = False
        try:
            tx.flush()  # covers write ``number`` too: it came no later than the newest
            done = True
        finally:
            with self._cond:
                self._flushing = False
                if done and upto > self._durable:
                    self._durable = upto
                self._cond.notify_all()
