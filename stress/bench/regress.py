"""Regression check: this run's figures against a baseline file, with the spec's 10% rule.

::

    python -m stress.bench all --quick --json now.json --baseline benchmarks/baseline.json --threshold 0.10
    python -m stress.bench compare now.json benchmarks/baseline.json --threshold 0.10
    python -m stress.bench merge run1.json run2.json run3.json --json benchmarks/baseline.json

Rule (the spec's ``detect_performance_regressions``, made noise-aware): a
compared value regresses when its median this run is worse, in its figure's
direction (see :mod:`stress.bench.figures`), by more than ``threshold``
relative to the *worst the baseline saw*: the baseline's slowest repetition or
run (its ``max`` for a time, ``min`` for a throughput, a peer ratio's band).
For a baseline of one run with one repetition that is exactly the spec's rule
on medians. A baseline merged from several runs (:func:`merge`) widens each
value's tolerance by the noise this machine showed for it, and no more; so a
figure that swings 30% from run to run (a single sub-millisecond call) does
not fail the check, while a stable one still fails at 10%. "Worse by" in the
report is against the baseline's median, for reading.

A value present on one side only is listed as *new* or *missing*, never as a
regression (a benchmark not run, an optional peer not installed, a figure
renamed). A baseline value that is zero or negative cannot carry a relative
change and is listed as *skipped*.

What is compared (``scope``)
----------------------------
These machines are noisy (two shared cores), and a scheduled CI job runs on
other hardware than the baseline was made on. An absolute time moves with
the machine; a ratio against a peer that ran the same workload in the same
repetitions moves with our code (or the peer's) and much less with the
machine. So:

* ``"robust"`` (the default): a figure that has ratios against peers is
  compared through them (one value per peer, named ``"figure [/ peer]"``),
  not through its absolute median; a figure that is a same-run ratio (unit
  ``x``) is compared as it is; any other figure of ours by its absolute
  median. A peer's own figures (``"peer": true``) are not compared: they
  measure the machine.
* ``"ratios"``: only the machine-independent values: the ratios against
  peers and the same-run ratio figures. For a baseline made on another
  machine (the scheduled workflow).
* ``"all"``: every absolute median (the peers' too) and every peer ratio.
  For two runs on the same quiet machine.

Costs: O(figures) for a comparison, O(runs x figures) for a merge. Nothing
here runs a benchmark.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stress.bench.figures import BANDS_KEY, LOWER, META_PREFIX, RATIO_PREFIX, readings, worse_by
from stress.bench.stats import cell, format_table

SCOPES = ("robust", "ratios", "all")
DEFAULT_THRESHOLD = 0.10


@dataclass(frozen=True)
class Value:
    """One compared value: a figure's median, or its ratio against one peer, with the lowest and
    highest it took (over repetitions, or over the runs a baseline was merged from)."""

    key: str
    value: float
    low: float
    high: float
    unit: str
    better: str

    @property
    def worst(self) -> float:
        """The worst this value was seen at: its highest when lower is better, else its lowest."""
        return self.high if self.better == LOWER else self.low


def values(results: Mapping[str, Any], scope: str = "robust") -> dict[str, Value]:
    """The values of a results file that ``scope`` compares (see the module docstring)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    out: dict[str, Value] = {}
    for name, r in readings(results).items():
        if r.peer and scope != "all":
            continue
        if r.ratios:
            for peer, ratio in r.ratios.items():
                key = f"{name} [/ {peer}]"
                low, high = r.bands.get(peer, (ratio, ratio))
                out[key] = Value(key, ratio, min(low, ratio), max(high, ratio), "x", r.better)
            if scope != "all":
                continue
        if r.is_ratio or scope != "ratios":
            out[name] = Value(name, r.median, min(r.min, r.median), max(r.max, r.median), r.unit, r.better)
    return out


@dataclass(frozen=True)
class Change:
    """A value on both sides. ``worse``: how much worse the current median is than the baseline's
    (a fraction; negative: better); ``beyond``: how much worse than the worst the baseline saw."""

    key: str
    baseline: Value
    current: float
    unit: str
    better: str

    @property
    def worse(self) -> float:
        return worse_by(self.current, self.baseline.value, self.better)

    @property
    def beyond(self) -> float:
        return worse_by(self.current, self.baseline.worst, self.better)

    def describe(self) -> str:
        word = "worse" if self.worse >= 0 else "better"
        spread = "" if self.baseline.low == self.baseline.high else \
            f", seen {cell(self.baseline.low)}..{cell(self.baseline.high)}"
        unit = f" {self.unit}" if self.unit else ""
        return (f"{self.key}: {abs(self.worse):.1%} {word} ({cell(self.current)} vs {cell(self.baseline.value)}"
                f"{unit} baseline{spread}; {self.better} is better)")


@dataclass
class Comparison:
    """Every value compared, those on one side only, and the verdict against ``threshold``."""

    threshold: float
    scope: str
    changes: list[Change] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.beyond > self.threshold]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if c.worse < -self.threshold]

    @property
    def ok(self) -> bool:
        return not self.regressions


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD,
            scope: str = "robust") -> Comparison:
    """Compare two results files (``{benchmark: {figure: entry}}``) value by value."""
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, not {threshold}")
    now, then = values(current, scope), values(baseline, scope)
    out = Comparison(threshold, scope)
    for key, value in now.items():
        before = then.get(key)
        if before is None:
            out.new.append(key)
        elif before.value <= 0 or before.worst <= 0:
            out.skipped.append(key)
        else:
            out.changes.append(Change(key, before, value.value, value.unit, value.better))
    out.missing = [key for key in then if key not in now]
    return out


def detect_performance_regressions(current_results: Mapping[str, Any], baseline_results: Mapping[str, Any],
                                   threshold: float = DEFAULT_THRESHOLD, scope: str = "robust") -> list[str]:
    """The spec's function: one line per value worse than the baseline by more than ``threshold``."""
    return [c.describe() for c in compare(current_results, baseline_results, threshold, scope).regressions]


def format_comparison(cmp: Comparison, everything: bool = False) -> str:
    """The report: a table of the regressions and of the values beyond the threshold either way
    (with ``everything``, of every value compared), then counts and the new/missing values."""
    regressed = {id(c) for c in cmp.regressions}
    improved = {id(c) for c in cmp.improvements}
    shown = cmp.changes if everything else [c for c in cmp.changes if abs(c.worse) > cmp.threshold]
    lines = [f"regression check: {len(cmp.changes)} values compared ({cmp.scope} scope), threshold "
             f"{cmp.threshold:.0%} beyond the worst the baseline saw: {len(regressed)} regressed, "
             f"{len(improved)} improved by more than {cmp.threshold:.0%}; {len(cmp.new)} new, "
             f"{len(cmp.missing)} missing, {len(cmp.skipped)} skipped"]
    if shown:
        rows = [[c.key, c.unit, cell(c.baseline.value), f"{cell(c.baseline.low)}..{cell(c.baseline.high)}",
                 cell(c.current), f"{c.worse:+.1%}", f"{c.beyond:+.1%}", c.better,
                 "REGRESSED" if id(c) in regressed else ("improved" if id(c) in improved else "noise")]
                for c in sorted(shown, key=lambda c: -c.beyond)]
        lines.append(format_table(["value", "unit", "baseline", "seen", "now", "vs median", "vs worst", "better",
                                   "verdict"], rows))
    for label, keys in (("new (not in the baseline)", cmp.new), ("missing (in the baseline only)", cmp.missing)):
        if keys:
            lines.append(f"{label}: " + ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else ""))
    return "\n".join(lines)


# -- a baseline from several runs ----------------------------------------------------------------
def merge(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One results file from several runs of the same benchmarks: per figure (the last run's entry
    for everything else), ``median`` = the median of the runs' medians, ``min``/``max`` = the
    extremes over every run, ``ratio_<peer>`` = the median over the runs and ``bands[peer]`` = its
    lowest and highest; ``runs`` = how many runs had the figure. ``_meta`` lists the runs' metas."""
    if not runs:
        raise ValueError("merge needs at least one run")
    out: dict[str, Any] = {"_meta": {"merged_runs": len(runs),
                                     "runs": [r.get("_meta", {}) for r in runs]}}
    benches = [b for r in runs for b in r if not b.startswith(META_PREFIX) and isinstance(r[b], Mapping)]
    for bench in dict.fromkeys(benches):
        names = [n for r in runs for n in (r.get(bench) or {})]
        merged: dict[str, Any] = {}
        for name in dict.fromkeys(names):
            entries = [r[bench][name] for r in runs if name in (r.get(bench) or {})]
            merged[name] = _merge_entries(entries)
        out[bench] = merged
    return out


def _merge_entries(entries: list[Any]) -> Any:
    last = copy.deepcopy(entries[-1])
    if not isinstance(last, dict):
        return last
    numbers = [e for e in entries if isinstance(e, Mapping) and _number(e.get("median"))]
    if numbers:
        last["median"] = statistics.median(e["median"] for e in numbers)
        lows = [e.get("min", e["median"]) for e in numbers if _number(e.get("min", e["median"]))]
        highs = [e.get("max", e["median"]) for e in numbers if _number(e.get("max", e["median"]))]
        last["min"], last["max"] = min(lows, default=None), max(highs, default=None)
    bands: dict[str, list[float]] = {}
    for key in [k for k in last if k.startswith(RATIO_PREFIX)]:
        ratios = [e[key] for e in entries if isinstance(e, Mapping) and _number(e.get(key))]
        if ratios:
            last[key] = statistics.median(ratios)
            bands[key.removeprefix(RATIO_PREFIX)] = [min(ratios), max(ratios)]
    if bands:
        last[BANDS_KEY] = bands
    last["runs"] = len(entries)
    return last


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN != NaN
