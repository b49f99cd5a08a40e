"""``python -m stress.bench soak`` (BENCH-005): :mod:`stress.soak` as a benchmark.

One run of the soak runner (10 agent processes and a control process, 50
operations/s on a 1,000-task project, RSS sampled, GC pauses measured, the
final audit): 3 minutes, or 15 s with ``--quick`` (about 30 s in all). A soak
is one long window, so ``--repeat`` does not apply; ``--duration`` neither
(use ``python -m stress.soak --minutes M`` for a long run).

Figures (over the agent processes: the median, min and max):

* ``RSS slope`` (KB per 1,000 operations after warm-up), with the growth the
  work adds by design (``expected``), the allowance the run derived (``limit``)
  and the control process's slope (``control``: what the measurement reads for
  a process that does not grow);
* ``RSS slope per minute`` (KB/min), ``baseline RSS`` (MB), ``peak / baseline``;
* ``GC pause p99`` and ``GC pause max`` (ms of wall time, all agents; ``cpu_ms``: the
  collector's CPU time in that pause), and the longest full
  (generation 2) pause in the last third of the run;
* ``latency p99 last/first third`` (x: the same run's last third over its first).

Only ``baseline RSS`` is compared with a baseline file (lower is better); the
rest is information: in a run this short the slopes and pauses are mostly the
machine's noise, and a leak is judged by the run itself. Failures: a leak, an
agent's error, or anything the final verification found.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from stress.bench import BenchResult, RunOptions
from stress.bench.figures import LOWER, RATIO_UNIT, spread

from .. import soak
from ..procs import reap_committers

QUICK_MINUTES, FULL_MINUTES = 0.25, 3.0


def run(options: RunOptions, out: TextIO) -> BenchResult:
    minutes = QUICK_MINUTES if options.quick else FULL_MINUTES
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    try:
        report = soak.run(work, minutes, rate=50.0, agents=10, tasks=1000, complete_share=0.05, warmup=0.25,
                          sample=None, seed=0, archive=True, say=lambda s: print(s, file=sys.stderr, flush=True))
    finally:
        reap_committers(work / "home", timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nstress.bench soak (BENCH-005): {minutes:g} min, 10 agents at 50 operations/s in all, 1,000 tasks",
          file=out)
    for line in soak.report_lines(report):
        print(line, file=out)
    return BenchResult(figures=figures(report), failures=list(report.problems))


def figures(report: soak.SoakReport) -> dict[str, dict[str, Any]]:
    """The JSON entries. Only the baseline RSS is comparable run to run (``better``); the slopes,
    the peak and the pauses of a run this short are mostly the machine's noise (a leak is
    judged by the run's own verdict, a failure), so they are information."""
    m = report.memory
    control = report.control
    limit = report.allowance["limit_kb_per_1000_ops"]
    out = {
        "RSS slope": spread([x.kb_per_1000_ops for x in m], "KB/1000 ops", None, limit=round(limit, 3),
                            expected=round(report.allowance["expected_kb_per_1000_ops"], 3),
                            control=_round(control.kb_per_1000_ops) if control else None),
        "RSS slope per minute": spread([x.kb_per_min for x in m], "KB/min", None,
                                       control=_round(control.kb_per_min) if control else None),
        "baseline RSS": spread([x.baseline_mb for x in m], "MB", LOWER),
        "peak / baseline": spread([x.peak_over_baseline for x in m], RATIO_UNIT, None, target="< 2"),
        "GC pause p99": spread([report.gc.p99_ms], "ms", None),
        "GC pause max": spread([report.gc.max_ms], "ms", None, target="< 100", cpu_ms=_round(report.gc.max_cpu_ms)),
        "GC full pause max, last third": spread([report.gc.full_last_third.max_ms], "ms", None),
    }
    first, last = report.first_third.p99_ms, report.last_third.p99_ms
    if first and not math.isnan(first) and not math.isnan(last):
        out["latency p99 last/first third"] = spread([last / first], RATIO_UNIT, None)
    out["operations served"] = spread([float(report.served)], "operations", None)
    return out


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)
