"""Is a process leaking? A memory slope after warm-up, against what the work legitimately adds.

A planner process's memory is allowed to grow with what it must remember:

* **the idempotency index**: every log handle keeps the key of every command
  in the log (``EventLog``: key -> (first seq, last seq); see "Limits" in the
  README), so every process grows by one entry per command *any* agent sends;
* **the project**: a task added is a task every process holds.

:func:`key_bytes` and :func:`task_bytes` measure both with ``tracemalloc``
(allocated bytes; independent of the code under test: a dict of the same
shape, and a whole project opened from its snapshot). The allowance per 1,000
operations is ``FACTOR x (commands x key_bytes + tasks added x task_bytes) +
MARGIN``: ``FACTOR`` covers what RSS adds to allocated bytes (allocator size
classes, partly used pools and arenas, a dict's spare slots), ``MARGIN`` is
the smallest leak a run can resolve from RSS, which moves in pages and arenas.

:func:`fit` is ordinary least squares with the slope's standard error. A
process leaks (:func:`verdict`) when its slope after warm-up, in bytes per
operation, exceeds the allowance by more than twice its standard error *and*
the growth beyond the allowance over the fitted stretch exceeds
:data:`MIN_EXCESS` (a few arenas): the first keeps noise from being called a
leak, the second keeps a short run's handful of steps from being one.
"""

from __future__ import annotations

import math
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

FACTOR = 1.5
MARGIN_PER_1000 = 16 * 1024  # bytes per 1,000 operations: 16 B per operation
MIN_EXCESS = 2 * 1024 * 1024  # bytes beyond the allowance over the fitted stretch


@dataclass(frozen=True)
class Fit:
    """``y = intercept + slope x``; ``stderr`` of the slope (NaN with fewer than 3 points)."""

    slope: float
    intercept: float
    stderr: float
    n: int


def fit(xs: list[float], ys: list[float]) -> Fit:
    """Least squares of ``ys`` on ``xs``. O(n)."""
    n = len(xs)
    if n < 2:
        return Fit(math.nan, math.nan, math.nan, n)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return Fit(math.nan, my, math.nan, n)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    if n < 3:
        return Fit(slope, intercept, math.nan, n)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return Fit(slope, intercept, math.sqrt(residual / (n - 2) / sxx), n)


@dataclass(frozen=True)
class Allowance:
    """What 1,000 operations may legitimately add to each process, and the limit derived from it."""

    key_bytes: float  # per command in the log
    task_bytes: float  # per task in the project
    commands_per_1000: float
    tasks_per_1000: float

    @property
    def expected(self) -> float:
        """Bytes per 1,000 operations the work adds by design."""
        return self.commands_per_1000 * self.key_bytes + self.tasks_per_1000 * self.task_bytes

    @property
    def limit(self) -> float:
        return FACTOR * self.expected + MARGIN_PER_1000


@dataclass(frozen=True)
class Verdict:
    leak: bool
    why: str


def verdict(slope_per_1000: float, stderr_per_1000: float, limit_per_1000: float, ops: float) -> Verdict:
    """Leak or not, for a slope (bytes per 1,000 operations) fitted over ``ops`` operations."""
    if math.isnan(slope_per_1000):
        return Verdict(False, "too few samples after warm-up to fit a slope")
    margin = 2 * stderr_per_1000 if not math.isnan(stderr_per_1000) else math.inf
    excess = (slope_per_1000 - limit_per_1000) * ops / 1000
    if slope_per_1000 - margin > limit_per_1000 and excess > MIN_EXCESS:
        return Verdict(True, f"LEAK: {slope_per_1000 / 1024:,.1f} KB per 1,000 ops (+-{margin / 1024:,.1f}), "
                             f"limit {limit_per_1000 / 1024:,.1f}; {excess / 2**20:,.1f} MB beyond it")
    return Verdict(False, "ok")


def key_bytes(entries: int = 40_000, step: int = 1_000) -> float:
    """Bytes per entry of an idempotency index shaped like the log's (32-hex-digit key ->
    (first seq, last seq) as two int objects past the small-int cache: the handle's own
    appends hold two, keys read from other processes' records one, so this errs high), as
    the least-squares slope of allocated bytes over the entries added, so that the dict's
    resizes average out."""
    keys: dict[str, tuple[int, int]] = {}
    xs, ys = [], []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(entries):
            first = 1_000_000 + 2 * i
            keys[uuid.uuid4().hex] = (first, first + 1)
            if i % step == 0:
                xs.append(float(i))
                ys.append(float(tracemalloc.get_traced_memory()[0] - base))
    finally:
        tracemalloc.stop()
    return fit(xs, ys).slope


def task_bytes(home: Path, project: str) -> float:
    """Bytes per task of ``project``'s state in a process: allocated while opening it from its
    snapshot (the second time: the first one imports the modules), over its task count.
    Includes the handle's fixed costs, so it errs high: a bound."""
    from planner import Planner

    with Planner.open(home, project, archive_every=0, archive_interval=0) as p:
        p.ready(1)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        p = Planner.open(home, project, archive_every=0, archive_interval=0)
        p.ready(1)
        grown = tracemalloc.get_traced_memory()[0] - base
        tasks = len(p.graph.tasks)
        p.close()
    finally:
        tracemalloc.stop()
    return grown / max(tasks, 1)
