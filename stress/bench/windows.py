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


def run_workers(ctx: Any, target: Any, args_of: Any, procs: int, duration: float, startup_timeout: float) -> list[Any]:
    """Start ``procs`` processes ``target(*args_of(i))`` from ``ctx`` (a multiprocessing
    context), collect their reports (:func:`collect_reports`, which needs the barrier and
    the results queue the args carry: ``args_of(i, barrier, results)``), reap them, and
    raise :class:`WindowFailed` with the first traceback if any worker failed."""
    barrier = ctx.Barrier(procs)
    results = ctx.Queue()
    workers = [ctx.Process(target=target, args=args_of(i, barrier, results), daemon=True) for i in range(procs)]
    for w in workers:
        w.start()
    try:
        reports = collect_reports(results, workers, barrier, time.monotonic() + duration + startup_timeout)
    finally:
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.terminate()
                w.join()
    errors = [f"worker {r.worker_id}:\n{r.error}" for r in reports if r.error]
    if errors:
        raise WindowFailed(errors[0] + (f"\n(and {len(errors) - 1} more workers failed)" if len(errors) > 1 else ""))
    return reports
