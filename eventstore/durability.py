"""The ``batch`` durability mode's background flusher.

An append in mode ``batch`` returns once its bytes are in the page cache and
marks the log dirty; this thread then flushes within ``interval`` seconds of
the *first* unflushed append, so a burst of appends shares one fdatasync and
no acknowledged append stays unflushed longer than the interval (plus the
flush itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


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
