"""Garbage-collector pauses inside a process, measured with ``gc.callbacks``, in fixed memory.

The interpreter calls every function in ``gc.callbacks`` with ``"start"`` just
before a collection and ``"stop"`` right after it; the pause is the
``time.perf_counter`` difference (the collection itself, plus the few
microseconds of our two calls), and the collection's CPU time the
``time.thread_time`` difference: on a busy machine a pause can be much longer
than the work, the process waiting for a core in the middle of it. Pauses are kept as counts, totals and maxima
per generation (and the CPU time of the longest), one log-scale histogram of
every pause (four buckets per doubling from 1 µs: a percentile read from it is
exact to within 19%, and reported as its bucket's upper edge, so never below
the true value), and each full (generation 2) collection's end time
(``time.monotonic``), pause and CPU time, in
arrays allocated up front (full collections are rare: about one a minute in an
agent), so that a trend over a long run shows. Nothing grows while it runs,
so it does not disturb a memory measurement. O(1) per collection.
"""

from __future__ import annotations

import gc
import math
import time
from array import array
from typing import Any

PER_OCTAVE = 4
BUCKETS = 26 * PER_OCTAVE  # 1 µs .. 2**26 µs (67 s)
FULL_CAPACITY = 4096  # full collections kept one by one


def bucket(seconds: float) -> int:
    micros = seconds * 1e6
    if micros <= 1.0:
        return 0
    return min(int(math.log2(micros) * PER_OCTAVE) + 1, BUCKETS - 1)


def upper_edge(index: int) -> float:
    """The longest pause (seconds) that falls in bucket ``index``."""
    return 2 ** (index / PER_OCTAVE) * 1e-6


class GcWatch:
    """Install with :meth:`install`; :meth:`to_json` for the figures."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.total = [0.0, 0.0, 0.0]
        self.max = [0.0, 0.0, 0.0]
        self.max_cpu = [0.0, 0.0, 0.0]  # the CPU time of the longest pause
        self.hist = [0] * BUCKETS
        self.full_at = array("d", bytes(8 * FULL_CAPACITY))
        self.full_pause = array("d", bytes(8 * FULL_CAPACITY))
        self.full_cpu = array("d", bytes(8 * FULL_CAPACITY))
        self.full_n = 0
        self._started = self._cpu = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._cpu = time.thread_time()
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        cpu = time.thread_time() - self._cpu
        gen = info["generation"]
        self.count[gen] += 1
        self.total[gen] += pause
        if pause > self.max[gen]:
            self.max[gen], self.max_cpu[gen] = pause, cpu
        self.hist[bucket(pause)] += 1
        if gen == 2 and self.full_n < FULL_CAPACITY:
            n = self.full_n
            self.full_at[n], self.full_pause[n], self.full_cpu[n] = time.monotonic(), pause, cpu
            self.full_n = n + 1

    def install(self) -> GcWatch:
        gc.callbacks.append(self)
        return self

    def uninstall(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def to_json(self) -> dict[str, Any]:
        n = self.full_n
        return {"count": list(self.count), "total_s": list(self.total), "max_s": list(self.max),
                "max_cpu_s": list(self.max_cpu), "hist": list(self.hist),
                "full": [self.full_at[:n].tolist(), self.full_pause[:n].tolist(), self.full_cpu[:n].tolist()]}


def merged_percentile(hists: list[list[int]], q: float) -> float:
    """The q-th percentile (seconds, a bucket's upper edge) of the pauses of several histograms;
    NaN when there were none."""
    total = [sum(column) for column in zip(*hists, strict=True)] if hists else []
    n = sum(total)
    if not n:
        return math.nan
    rank = max(math.ceil(q / 100 * n), 1)
    seen = 0
    for i, count in enumerate(total):
        seen += count
        if seen >= rank:
            return upper_edge(i)
    return upper_edge(len(total) - 1)
