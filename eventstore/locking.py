"""The append lock: one exclusive ``flock`` per log, handed over by the kernel.

Why not ``filelock``: its ``acquire`` polls a non-blocking ``flock`` and sleeps
``poll_interval`` (50 ms by default) between tries, so a waiting writer can
sleep up to 50 ms after the lock is free. A *blocking* ``flock(LOCK_EX)`` is
woken by the kernel the moment the holder releases (``python -m stress.bench
log`` measures both). The lock belongs to the open file description, so the
kernel releases it when its holder dies, including on ``kill -9``: a crashed
writer can never hold the log forever.

POSIX only (Linux, macOS, the BSDs): the store also relies on fsync of
directories and on ``O_APPEND`` semantics that Windows lacks.
"""

from __future__ import annotations

import fcntl
import os
import time

from .errors import LockTimeoutError
from .fsutil import os_error


class AppendLock:
    """An exclusive inter-process lock on ``path`` (created if missing)."""

    def __init__(self, path: os.PathLike | str):
        self.path = os.fspath(path)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise os_error(exc, self.path, "open the lock file") from None

    def acquire(self, timeout: float | None = None) -> None:
        """Block until the lock is held. With ``timeout`` (seconds), raise
        :class:`LockTimeoutError` instead of waiting longer.

        Without a timeout the wait is a single blocking syscall; with one, the
        lock is tried with a short exponential back-off (0.1 ms .. 5 ms),
        since ``flock`` itself has no timeout.
        """
        if timeout is None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    raise LockTimeoutError(self.path, timeout) from None
                time.sleep(min(pause, deadline - now))
                pause = min(pause * 2, 0.005)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    # The lock file also holds the log's repair generation: a counter that
    # every repair bumps, so that handles opened before it notice. O(1).
    def generation(self) -> int:
        return int.from_bytes(os.pread(self._fd, 8, 0).ljust(8, b"\0"), "little")

    def bump_generation(self) -> int:
        """Advance the generation (the caller holds the lock); return the new value."""
        new = self.generation() + 1
        os.pwrite(self._fd, new.to_bytes(8, "little"), 0)
        os.fsync(self._fd)
        return new

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing also releases a held flock
            self._fd = -1


def read_generation(path: os.PathLike | str) -> int:
    """The repair generation stored in lock file ``path`` (0 if it has none yet)."""
    try:
        with open(path, "rb") as f:
            return int.from_bytes(f.read(8).ljust(8, b"\0"), "little")
    except FileNotFoundError:
        return 0
