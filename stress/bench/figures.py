"""A benchmark figure as the regression check reads it: :class:`Reading`, and :func:`spread` to write one.

Every benchmark returns its figures as ``{name: entry}``, each entry a
JSON-ready dict. Entries differ between benchmarks (latency percentiles,
targets, the peers' own medians), but every entry the regression check can
compare carries the same core, which :func:`spread` builds::

    {"median": 12.3, "min": 11.9, "max": 13.0, "repetitions": 3, "unit": "ms", "better": "lower"}

``median``, ``min`` and ``max`` are over the repetitions of the figure in one
run; ``better`` says which way is an improvement ("lower" for times, sizes and
latencies, "higher" for throughputs). When a peer ran the same workload in
the same repetitions, the entry also carries ``"ratio_<peer>"``: our median
over the peer's, better in the same direction as the figure (for a time, below
1 is faster than the peer). A figure that is itself a same-run ratio (unit
``"x"``: ours / a peer's, or one of our windows over another) says so by its
unit. A figure that measures a peer itself (SQLite's steps/s, the raw disk's
ceiling) carries ``"peer": true``: it tells how fast the machine was, not how
fast our code is.

A baseline merged from several runs (:func:`stress.bench.regress.merge`)
keeps, per figure, the median of the runs' medians, the lowest ``min`` and
the highest ``max`` of any run, and in ``"bands"`` the lowest and highest
value each peer ratio took (``{"sqlite": [0.61, 0.74]}``): the noise the
baseline's own machine showed.

An entry without a numeric ``median`` or without ``better`` (a count, a
profile's text, a table of sizes) is information: printed, never compared.
Reading an entry is O(its keys); nothing here measures or prints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HIGHER, LOWER = "higher", "lower"
RATIO_UNIT = "x"
RATIO_PREFIX = "ratio_"
PEER_KEY = "peer"
BANDS_KEY = "bands"
META_PREFIX = "_"  # top-level keys of a results file that are not benchmarks (``_meta``)


def _num(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def spread(values: Iterable[float], unit: str, better: str | None, **extra: Any) -> dict[str, Any]:
    """The JSON entry of a figure measured once per repetition: median, min, max (NaN values
    dropped), the repetitions counted, ``unit``, ``better`` (None: information only) and ``extra``."""
    measured = sorted(v for v in values if v is not None and not math.isnan(v))
    if measured:
        mid = len(measured) // 2
        med = measured[mid] if len(measured) % 2 else (measured[mid - 1] + measured[mid]) / 2
    else:
        med = math.nan
    entry: dict[str, Any] = {"median": _num(med), "min": _num(measured[0]) if measured else None,
                             "max": _num(measured[-1]) if measured else None, "repetitions": len(measured),
                             "unit": unit}
    if better is not None:
        entry["better"] = better
    return entry | extra


@dataclass(frozen=True)
class Reading:
    """One comparable figure: its median (min, max) over a run's repetitions, unit, direction,
    its ratios against peers measured in the same run (peer -> ours / theirs) with the range
    each took over merged runs (``bands``, when the entry has them), and whether it measures a
    peer rather than our code."""

    name: str
    median: float
    min: float
    max: float
    unit: str
    better: str
    ratios: dict[str, float] = field(default_factory=dict)
    peer: bool = False
    bands: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def is_ratio(self) -> bool:
        """A same-run ratio (``unit == "x"``): independent of the machine's speed, to first order."""
        return self.unit == RATIO_UNIT

    @classmethod
    def of(cls, name: str, entry: Any) -> Reading | None:
        """The reading of one figure entry, or None when the entry is information only."""
        if not isinstance(entry, Mapping) or entry.get("better") not in (HIGHER, LOWER):
            return None
        median = _float(entry.get("median"))
        if median is None:
            return None
        low, high = _float(entry.get("min")), _float(entry.get("max"))
        ratios = {key.removeprefix(RATIO_PREFIX): value for key, raw in entry.items()
                  if key.startswith(RATIO_PREFIX) and (value := _float(raw)) is not None}
        bands = {}
        for peer, band in (entry.get(BANDS_KEY) or {}).items():
            edges = [_float(x) for x in band] if isinstance(band, list | tuple) and len(band) == 2 else [None]
            if None not in edges:
                bands[peer] = (min(edges), max(edges))
        return cls(name, median, median if low is None else low, median if high is None else high,
                   str(entry.get("unit", "")), entry["better"], ratios, bool(entry.get(PEER_KEY)), bands)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def readings(results: Mapping[str, Any]) -> dict[str, Reading]:
    """Every comparable figure of a results file (``{benchmark: {figure: entry}}``, as
    ``python -m stress.bench --json`` writes it), keyed ``"benchmark: figure"``."""
    out: dict[str, Reading] = {}
    for bench, figures in results.items():
        if bench.startswith(META_PREFIX) or not isinstance(figures, Mapping):
            continue
        for figure, entry in figures.items():
            reading = Reading.of(f"{bench}: {figure}", entry)
            if reading is not None:
                out[reading.name] = reading
    return out


def worse_by(current: float, baseline: float, better: str) -> float:
    """How much worse ``current`` is than ``baseline``, as a fraction of the baseline
    (negative: better). ``baseline`` must be positive."""
    change = (current - baseline) / baseline
    return change if better == LOWER else -change
