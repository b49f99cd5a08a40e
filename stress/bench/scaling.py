"""How a measured cost grows with the size of the input: fitted, so that "linear" and "constant" are measured.

Given one figure's medians at several sizes (e.g. a load's milliseconds at 1k,
10k and 100k tasks), :func:`growth` fits ``log(value) = a + slope * log(size)``
by least squares. The slope is the exponent of the growth: 0 is constant, 1
linear, 2 quadratic; ``n log n`` over 1k..100k fits about 1.1. Small sizes are
dominated by fixed costs (opening files, the first call's caches), so the
headline slope is fitted from ``from_size`` up, and the slope over every size
is kept beside it. ``per_item_growth`` is the cost per item at the largest
size over the cost per item at the first fitted size: 1.0 for linear, below 1
for sub-linear (constant: size_small / size_large).

O(sizes); pure (nothing measured or printed here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_FROM = 1_000


def loglog_slope(points: Iterable[tuple[float, float]]) -> float:
    """Least-squares slope of ``log(y)`` on ``log(x)`` over the points with x > 0 and y > 0;
    NaN with fewer than two distinct x."""
    logs = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len({lx for lx, _ in logs}) < 2:
        return math.nan
    mx = sum(lx for lx, _ in logs) / len(logs)
    my = sum(ly for _, ly in logs) / len(logs)
    sxx = sum((lx - mx) ** 2 for lx, _ in logs)
    sxy = sum((lx - mx) * (ly - my) for lx, ly in logs)
    return sxy / sxx


def shape(slope: float) -> str:
    """A word for a fitted exponent (the bands are wide: two cores are noisy)."""
    if math.isnan(slope):
        return "-"
    if slope < 0.15:
        return "constant"
    if slope < 0.85:
        return "sub-linear"
    if slope <= 1.25:
        return "linear (n to n log n)"
    return "super-linear"


@dataclass(frozen=True)
class Growth:
    """One figure's fitted growth; ``small`` and ``large`` are the sizes ``per_item_growth`` compares."""

    slope: float  # fitted over sizes >= from_size (every size if fewer than two are)
    slope_all: float  # fitted over every size
    small: int
    large: int
    value_small: float
    value_large: float

    @property
    def per_item_small(self) -> float:
        return self.value_small / self.small

    @property
    def per_item_large(self) -> float:
        return self.value_large / self.large

    @property
    def per_item_growth(self) -> float:
        return self.per_item_large / self.per_item_small if self.per_item_small > 0 else math.nan

    @property
    def shape(self) -> str:
        return shape(self.slope)


def growth(values: Mapping[int, float], from_size: int = DEFAULT_FROM) -> Growth | None:
    """The growth of ``values`` (size -> median cost; NaN and non-positive values ignored) from
    ``from_size`` up; None with fewer than two usable sizes."""
    usable = {n: v for n, v in values.items() if n > 0 and v > 0 and not math.isnan(v)}
    if len(usable) < 2:
        return None
    fitted = {n: v for n, v in usable.items() if n >= from_size}
    if len(fitted) < 2:
        fitted = usable
    small, large = min(fitted), max(fitted)
    return Growth(loglog_slope(fitted.items()), loglog_slope(usable.items()), small, large,
                  fitted[small], fitted[large])
