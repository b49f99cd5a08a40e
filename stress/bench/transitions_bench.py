"""``python -m stress.bench transitions`` (BENCH-003): :mod:`stress.transitions` as a benchmark.

Each repetition is one run of the stress runner (fresh stores, 8 agent
processes, the open-loop schedule, the final audit) at the spec's rates
(10, 50, 100, 200, 500 transitions/s) and the overload rate (2,000/s), for
``--duration`` seconds per rate and system (default 5), beside the SQLite and
the whole-file JSON peers in the same run. ``--quick``: 50 and 500/s and the
overload, 1 s windows, one repetition (about 15 s).

Figures per rate (medians over the repetitions, min and max beside them):

* ``achieved @R/s`` (transitions/s, higher is better), with ``ratio_sqlite``
  and ``ratio_json``: the median of the per-repetition ratios ours / theirs;
* ``p99 latency @R/s`` (ms from the due time, so queueing counts; lower is
  better), with the same ratios;
* ``service p99 @R/s`` (ms, the command alone);
* the peers' own achieved rates and p99s, marked ``"peer": true``.

Failures: whatever the runner's verification or the peers' checks found, and
any error the planner made. Missed targets are reported, not failures.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from stress.bench import BenchResult, RunOptions
from stress.bench.figures import HIGHER, LOWER, spread
from stress.bench.stats import median

from .. import transitions as tr
from ..procs import reap_committers

QUICK_RATES = [50.0, 500.0]


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(options: RunOptions, out: TextIO) -> BenchResult:
    rates = QUICK_RATES if options.quick else [float(r) for r in tr.DEFAULT_RATES]
    duration = max(options.duration, 1.0)
    repeat = 1 if options.quick else max(options.repeat, 1)
    reports: list[tr.TransitionsReport] = []
    for rep in range(repeat):
        work = Path(tempfile.mkdtemp(prefix="bench-transitions-"))
        try:
            _progress(f"[rep {rep + 1}/{repeat}]")
            reports.append(tr.run(work, rates, tr.DEFAULT_OVERLOAD, duration, 8, tr.DEFAULT_TASKS,
                                  [tr.SQLITE, tr.JSON], seed=0, archive=True, say=_progress))
        finally:
            reap_committers(work / "home", timeout=30)
            shutil.rmtree(work, ignore_errors=True)
    result = BenchResult(figures=figures(reports), failures=[p for r in reports for p in r.problems])
    print_table(reports, duration, out)
    return result


def _key(r: tr.RateResult) -> str:
    return f"{r.rate:g}/s" + (" (overload)" if r.overload else "")


def figures(reports: list[tr.TransitionsReport]) -> dict[str, dict[str, Any]]:
    """The JSON entries (see the module docstring) over the repetitions."""
    out: dict[str, dict[str, Any]] = {}
    steps = [r for r in reports[0].results] if reports else []
    for i, step in enumerate(steps):
        runs = [rep.results[i] for rep in reports]
        key = _key(step)
        for name, unit, better, get in (("achieved", "transitions/s", HIGHER, lambda w: w.achieved_per_s),
                                        ("p99 latency", "ms", LOWER, lambda w: w.latency.p99_ms),
                                        ("service p99", "ms", LOWER, lambda w: w.service.p99_ms)):
            ratios = {}
            for peer in (tr.SQLITE, tr.JSON):
                pairs = [get(r.windows[tr.SP]) / get(r.windows[peer]) for r in runs
                         if peer in r.windows and get(r.windows[peer])]
                if pairs:
                    ratios[f"ratio_{peer}"] = round(median(pairs), 4)
            out[f"{name} @{key}"] = spread([get(r.windows[tr.SP]) for r in runs], unit, better, **ratios)
            for peer in (tr.SQLITE, tr.JSON):
                values = [get(r.windows[peer]) for r in runs if peer in r.windows]
                if values:
                    out[f"{tr.LABELS[peer]} {name} @{key}"] = spread(values, unit, better, peer=True)
        out[f"errors @{key}"] = spread([float(r.windows[tr.SP].errors) for r in runs], "errors", None)
    return out


def print_table(reports: list[tr.TransitionsReport], duration: float, out: TextIO) -> None:
    if not reports:
        return
    print(f"\nstress.bench transitions (BENCH-003): {len(reports)} repetition(s), {duration:g} s windows, "
          f"8 agent processes, open loop; medians over repetitions (ratios: median of per-repetition ratios)", file=out)
    print(f"{'rate':>18}  {'ours/s':>8} {'SQLite/s':>9} {'JSON/s':>7} {'x SQLite':>8}  {'p99 ms':>8} "
          f"{'SQLite':>8} {'JSON':>9} {'x SQLite':>8}  {'svc p99':>7}  errors", file=out)
    rate, p99, service = (lambda w: w.achieved_per_s), (lambda w: w.latency.p99_ms), (lambda w: w.service.p99_ms)
    for i, step in enumerate(reports[0].results):
        runs = [rep.results[i] for rep in reports]
        print(f"{_key(step):>18}  {_med(runs, tr.SP, rate):>8,.1f} {_med(runs, tr.SQLITE, rate):>9,.1f} "
              f"{_med(runs, tr.JSON, rate):>7,.1f} {_ratio(runs, rate):>7.2f}x  {_med(runs, tr.SP, p99):>8,.1f} "
              f"{_med(runs, tr.SQLITE, p99):>8,.1f} {_med(runs, tr.JSON, p99):>9,.1f} {_ratio(runs, p99):>7.2f}x  "
              f"{_med(runs, tr.SP, service):>7.1f}  {sum(r.windows[tr.SP].errors for r in runs)}", file=out)
    for line in tr.verdict_lines(reports[-1]):
        print(line, file=out)


def _med(runs: list[tr.RateResult], system: str, get) -> float:
    values = [get(r.windows[system]) for r in runs if system in r.windows]
    return median(values) if values else float("nan")


def _ratio(runs: list[tr.RateResult], get) -> float:
    pairs = [get(r.windows[tr.SP]) / get(r.windows[tr.SQLITE]) for r in runs
             if tr.SQLITE in r.windows and get(r.windows[tr.SQLITE])]
    return median(pairs) if pairs else float("nan")
