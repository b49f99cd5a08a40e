"""How appends are made durable: group commit (mode ``always``) and the
background flusher (mode ``batch``).

The ``batch`` flusher:

An append in mode ``batch`` returns once its bytes are in the page cache and
marks the log dirty; this thread then flushes within ``interval`` seconds of
the *first* unflushed append, so a burst of appends shares one fdatasync and
no acknowledged append stays unflushed longer than the interval (plus the
flush itself).
"""

from __future__ import annotations

import errno
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .fsutil import os_error
from .locking import AppendLock


class BatchFlusher:
    """Calls ``flush`` at most once per ``interval`` while appends keep coming."""

    def __init__(self, flush: Callable[[], None], interval: float):
        self._flush = flush
        self._interval = interval
        self._cond = threading.Condition()
        self._dirty_since: float | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="eventstore-flusher", daemon=True)
        self._thread.start()

    def mark_dirty(self) -> None:
        with self._cond:
            if self._dirty_since is None:
                self._dirty_since = time.monotonic()
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._dirty_since is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                due = self._dirty_since + self._interval
                # Wait out the interval so later appends join this flush;
                # stop() interrupts the wait (close() flushes itself).
                while not self._stopping and time.monotonic() < due:
                    self._cond.wait(due - time.monotonic())
                if self._stopping:
                    return
                self._dirty_since = None
            self._flush()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()


class FlushGate:
    """Group commit for mode ``always``: one fdatasync covers every writer before it.

    Writers queue on a flush lock (``.flush.lock``). The holder reads the
    segment's size, fdatasyncs, and records in ``.durable`` that the segment
    is durable up to that size. A writer that then takes the lock and finds its
    own bytes already covered returns without flushing: under contention the
    disk sees one flush per group instead of one per append.

    Safety: the marker is written only under the flush lock, and checksummed,
    so a writer may read it first without the lock and skip the queue when its
    bytes are already covered (a torn read fails the check); it carries the kernel's boot id, so after a crash or reboot it is
    ignored rather than trusted; and every truncation of a segment lowers it
    (:meth:`truncate`) before new bytes can be written at the cut offsets.
    Where no boot id is available (not Linux) every writer flushes for itself.
    """

    _FORMAT = struct.Struct("<16sQQI")  # boot id, segment first seq, durable offset, crc32

    def __init__(self, directory: Path):
        self.failed: str | None = None  # a flush of this handle failed: no later one may report success
        self._lock = AppendLock(directory / ".flush.lock")
        try:
            self._fd = os.open(directory / ".durable", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            self._lock.close()
            raise os_error(exc, directory / ".durable", "open") from None

    def flush(self, fd: int, segment: int, end: int) -> None:
        """Make ``fd`` (segment ``segment``) durable at least up to byte ``end``."""
        if self.failed is not None:
            raise OSError(errno.EIO, f"an earlier flush failed: {self.failed}")
        if BOOT_ID is None:
            self._fdatasync(fd)
            return
        if self._covers(segment, end):  # lock-free: someone's flush already covered us
            return
        self._lock.acquire()
        try:
            if self.failed is not None:  # (set under this lock: a flush queued behind it sees it)
                raise OSError(errno.EIO, f"an earlier flush failed: {self.failed}")
            mark = self._read()
            if mark is not None and mark[0] == segment and mark[1] >= end:
                return  # a flush that started after our write already covered it
            size = os.fstat(fd).st_size
            self._fdatasync(fd)
            self._write(segment, size)
        finally:
            self._lock.release()

    def _fdatasync(self, fd: int) -> None:
        """fdatasync, remembering a failure: Linux reports a lost write-back to one fdatasync
        of a descriptor only, so a second flush of the same descriptor (a thread whose
        write came after the lost pages) could otherwise return success."""
        try:
            os.fdatasync(fd)
        except OSError as exc:
            self.failed = str(exc)
            raise

    def truncate(self, fd: int, segment: int, offset: int) -> None:
        """Cut segment ``segment`` (open as ``fd``) at ``offset``, withdrawing claims beyond it.

        All under the flush lock, claim first: a crash part-way leaves at
        worst a lowered claim, and no flusher can measure the old size and
        claim it between the withdrawal and the cut.
        """
        self._lock.acquire()
        try:
            mark = self._read() if BOOT_ID is not None else None
            if mark is not None and mark[0] == segment and mark[1] > offset:
                self._write(segment, offset)
            os.ftruncate(fd, offset)
            os.fsync(fd)
        finally:
            self._lock.release()

    @contextmanager
    def rewriting(self) -> Iterator[None]:
        """Hold the flush lock with every claim dropped, while a repair rewrites segments."""
        self._lock.acquire()
        try:
            os.pwrite(self._fd, bytes(self._FORMAT.size), 0)
            yield
        finally:
            self._lock.release()

    def _covers(self, segment: int, end: int) -> bool:
        """Whether the marker already says ``segment`` is durable up to ``end``, read without
        the lock. A read torn by a concurrent write fails its crc and says no (then the
        caller queues as usual). A stale marker cannot say yes wrongly: claims only grow
        after a flush, and a cut lowers the marker before it truncates, which happens
        before any byte is written at the cut offsets (the append lock orders them)."""
        mark = self._read()
        return mark is not None and mark[0] == segment and mark[1] >= end

    def _read(self) -> tuple[int, int] | None:
        raw = os.pread(self._fd, self._FORMAT.size, 0)
        if len(raw) != self._FORMAT.size:
            return None
        boot, segment, offset, crc = self._FORMAT.unpack(raw)
        if boot != BOOT_ID or crc != zlib.crc32(raw[:-4]):
            return None
        return segment, offset

    def _write(self, segment: int, offset: int) -> None:
        body = self._FORMAT.pack(BOOT_ID, segment, offset, 0)[:-4]
        os.pwrite(self._fd, body + struct.pack("<I", zlib.crc32(body)), 0)

    def close(self) -> None:
        self._lock.close()
        os.close(self._fd)


def _boot_id() -> bytes | None:
    """The kernel's random id of this boot (Linux), or None."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return uuid.UUID(f.read().strip()).bytes
    except (OSError, ValueError):
        return None


BOOT_ID = _boot_id()
