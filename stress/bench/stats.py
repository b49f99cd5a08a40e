"""Small statistics and table helpers shared by the benchmarks.

Latencies are collected in seconds and reported in milliseconds. Percentiles
use the nearest-rank method (the smallest sample with at least q% of samples
at or below it), so p99 is always a latency that was actually observed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank q-th percentile (0 < q <= 100) of an ascending, non-empty sequence."""
    if not sorted_values:
        raise ValueError("percentile of an empty sequence")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], not {q}")
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def median(values: Iterable[float]) -> float:
    """The median of ``values`` (the mean of the middle two for an even count)."""
    return statistics.median(list(values))


@dataclass(frozen=True)
class LatencySummary:
    """p50, p99 and max of one measured window, in milliseconds."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    count: int

    @classmethod
    def of(cls, seconds: Iterable[float]) -> LatencySummary:
        ordered = sorted(seconds)
        if not ordered:
            return cls(math.nan, math.nan, math.nan, 0)
        return cls(percentile(ordered, 50) * 1e3, percentile(ordered, 99) * 1e3, ordered[-1] * 1e3, len(ordered))


@dataclass
class Figure:
    """One table row: a rate measured over several repetitions of the same window.

    ``rates`` holds each repetition's aggregate rate (``unit``, e.g. steps/s)
    and ``latencies`` each repetition's latency summary. The reported rate is
    the median over repetitions (min and max shown alongside); p50 and p99 are
    the medians of the per-repetition percentiles; max is the worst latency
    seen in any repetition. A rate is better higher (``"better"`` in its JSON,
    see :mod:`stress.bench.figures`).
    """

    label: str
    procs: int
    unit: str
    rates: list[float] = field(default_factory=list)
    latencies: list[LatencySummary] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The figure's name in ``--json`` output."""
        return f"{self.label} @{self.procs}"

    def add(self, rate: float, latency: LatencySummary) -> None:
        self.rates.append(rate)
        self.latencies.append(latency)

    @property
    def measured(self) -> bool:
        return bool(self.rates)

    @property
    def rate(self) -> float:
        return median(self.rates) if self.rates else math.nan

    @property
    def p50_ms(self) -> float:
        return median(s.p50_ms for s in self.latencies) if self.latencies else math.nan

    @property
    def p99_ms(self) -> float:
        return median(s.p99_ms for s in self.latencies) if self.latencies else math.nan

    @property
    def max_ms(self) -> float:
        return max((s.max_ms for s in self.latencies), default=math.nan)

    def to_json(self) -> dict[str, Any]:
        def num(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 4)

        return {
            "median": num(self.rate),
            "min": num(min(self.rates, default=math.nan)),
            "max": num(max(self.rates, default=math.nan)),
            "p50_ms": num(self.p50_ms),
            "p99_ms": num(self.p99_ms),
            "max_ms": num(self.max_ms),
            "procs": self.procs,
            "repetitions": len(self.rates),
            "unit": self.unit,
            "better": "higher",
        }


def fmt(value: float, digits: int = 1) -> str:
    """A number for a table cell; ``-`` when it was not measured (NaN)."""
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def cell(value: float | None) -> str:
    """A table cell for a number of any magnitude: fewer decimals the larger it is; ``-``
    when it was not measured (None or NaN)."""
    if value is None or math.isnan(value):
        return "-"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    if size >= 0.01:
        return f"{value:.3f}"
    return f"{value:.4f}" if size >= 0.0001 else f"{value:.2g}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = (str(c) for c in cells)
        parts = [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])
