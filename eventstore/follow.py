"""``EventLog.follow``: yield records as they are appended, without polling the file.

The watcher is armed *before* the log is read. watchfiles' notify backend
(inotify on Linux, FSEvents on macOS) accumulates changes from that moment
until ``watch`` returns them, so an append landing between "read to the end"
and "wait" still wakes the follower: no lost wake-up, no periodic re-read.
Latency after an append is about ``STEP_MS`` plus the read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from watchfiles._rust_notify import RustNotify

from .reader import LogReader
from .record import Record

if TYPE_CHECKING:
    from .log import EventLog

#: watchfiles returns once no further change arrives for STEP_MS (at most DEBOUNCE_MS)
STEP_MS = 2
DEBOUNCE_MS = 20


def follow(log: EventLog, from_seq: int, timeout: float | None, stop_event) -> Iterator[Record]:
    """See :meth:`EventLog.follow`. ``timeout`` is the longest wait for the next record."""
    watcher = RustNotify([str(log.log_dir)], False, False, 50, False, True)
    reader = LogReader(log.log_dir, first_seq=from_seq)
    try:
        while True:
            for record in reader.poll():
                if record.seq >= from_seq:
                    yield record
            if stop_event is not None and stop_event.is_set():
                return
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                wait_ms = 0 if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))
                outcome = watcher.watch(DEBOUNCE_MS, STEP_MS, wait_ms, stop_event)
                if outcome == "stop":
                    return
                if outcome == "signal":
                    raise KeyboardInterrupt
                if outcome == "timeout":
                    return  # nothing changed since the watcher was armed
                break  # log/ changed: read again (a spurious wake-up reads nothing)
    finally:
        watcher.close()
        reader.close()
