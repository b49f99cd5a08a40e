"""Collecting the reports of the worker processes of one measured window (shared by benchmarks)."""

from __future__ import annotations

import queue
import time
from typing import Any

LOST_GRACE_S = 2.0  # a dead worker's report may still be in the pipe for this long


class WindowFailed(Exception):
    """A worker crashed or never reported; the message carries its traceback."""


def collect_reports(results: Any, workers: list, barrier: Any, deadline: float) -> list[Any]:
    """One report (with a ``worker_id``) per worker, from the ``results`` queue.

    A worker that exits without reporting (it crashed before it could) is given
    :data:`LOST_GRACE_S` for its report to arrive; then the barrier is broken so the
    others stop waiting, and :class:`WindowFailed` is raised instead of hanging.
    """
    reports: dict[int, Any] = {}
    gone_since: dict[int, float] = {}
    while len(reports) < len(workers):
        try:
            report = results.get(timeout=0.5)
            reports[report.worker_id] = report
            continue
        except queue.Empty:
            pass
        now = time.monotonic()
        for i, w in enumerate(workers):
            if i not in reports and w.exitcode is not None:
                gone_since.setdefault(i, now)
        lost = sorted(i for i, t in gone_since.items() if i not in reports and now - t > LOST_GRACE_S)
        if lost or now > deadline:
            barrier.abort()
            codes = sorted({workers[i].exitcode for i in lost})
            why = f"workers {lost} exited (codes {codes}) without reporting" if lost else "timed out"
            raise WindowFailed(f"{why}; {len(reports)} of {len(workers)} reported")
    return list(reports.values())
