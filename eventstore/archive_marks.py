"""Scheduling commits to a file log's git archive without opening git: two small files.

::

    <log dir>/archive.seq       the last archived seq, one line; its mtime is when it was written
    <log dir>/archive.pending   the claim of the one committer on its way (created with O_EXCL)

Many writer processes share a log; each asks "is a commit due?" after its writes.
Reading ``archive.seq`` is one small read (no git, no lock), and the claim makes
sure that at most one committer is started at a time across processes: created
exclusively by whoever starts it, removed by the committer when done. A claim
older than :data:`STALE_S` seconds (its committer died) is taken over. Both files
are derived: deleting them costs at most one extra commit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .fsutil import atomic_write

MARK_NAME = "archive.seq"
PENDING_NAME = "archive.pending"
#: a committer claim older than this is presumed dead: another may start
STALE_S = 120.0


class ArchiveMarks:
    """The archive's schedule files of one log directory. Every method is O(1) file operations."""

    def __init__(self, log_dir: os.PathLike | str):
        self.mark_path = Path(log_dir) / MARK_NAME
        self.pending_path = Path(log_dir) / PENDING_NAME

    def read(self) -> tuple[int, float]:
        """(last archived seq, when it was written). A missing mark is written as 0 now, so that
        the time-based schedule counts from the first time anyone looked."""
        try:
            return int(self.mark_path.read_text().strip() or 0), self.mark_path.stat().st_mtime
        except (FileNotFoundError, ValueError):
            self.write(0)
            return 0, time.time()

    def write(self, seq: int) -> None:
        """Record that everything up to ``seq`` is archived (atomic replace)."""
        atomic_write(self.mark_path, f"{seq}\n".encode())

    def claim_committer(self) -> bool:
        """True when the caller is the one to start a committer now (it must call
        :meth:`release_committer` if it then cannot start one)."""
        try:
            os.close(os.open(self.pending_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            try:
                if time.time() - self.pending_path.stat().st_mtime < STALE_S:
                    return False  # one is on its way
                os.utime(self.pending_path)  # a stale claim: take it over
                return True
            except FileNotFoundError:
                return False  # it just finished

    def release_committer(self) -> None:
        """The committer is done (or was never started): another may be started."""
        self.pending_path.unlink(missing_ok=True)
