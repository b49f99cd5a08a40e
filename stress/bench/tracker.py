"""The spec's benchmark harness for tests: timings, resource use, and the requirements they must meet.

::

    bench = PerformanceBenchmark()            # or the `performance_tracker` fixture (tests/performance)
    bench.setup("project_load")                # starts the ResourceMonitor
    bench.start_timer("project_load"); ...; bench.end_timer("project_load")
    bench.assert_performance_requirements("project_load", max_time=30.0)   # the mean, in seconds
    bench.assert_memory_requirements(max_memory_mb=1024)                    # the peak RSS
    report = bench.teardown()                  # stops the monitor; saves the report if configured

:class:`PerformanceMetrics` holds named timings (``perf_counter``);
:class:`PerformanceBenchmark` adds a :class:`~stress.bench.monitor.ResourceMonitor`
and the spec's two assertions; :class:`PerformanceTracker` is what the
``performance_tracker`` fixture gives a test: the spec's ``start_timer`` /
``end_timer`` / ``assert_performance`` and :meth:`~PerformanceTracker.get_memory_usage`.

These assertions compare times with limits: they belong in the tests marked
``performance`` (skipped unless ``-m performance``), never in the default
suite, whose tests assert behaviour only. The spec also sets environment
variables for a "performance mode" and a quieter log level: nothing in this
project reads them (the planner logs nothing on its hot paths), so they are
not set.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stress.bench.monitor import DEFAULT_INTERVAL_S, ResourceMonitor

RESULTS_DIR_ENV = "PERFORMANCE_RESULTS_DIR"  # where teardown() writes <scenario>.json, if set
MB = 1024 * 1024


class PerformanceMetrics:
    """Named timings in seconds: ``start_timer(name)`` ... ``end_timer(name)`` pairs, or ``record``."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self._started: dict[str, float] = {}

    def reset(self) -> None:
        self.times.clear()
        self._started.clear()

    def start_timer(self, name: str) -> None:
        self._started[name] = time.perf_counter()

    def end_timer(self, name: str) -> float:
        """Stop ``name``'s timer and record the seconds it ran; KeyError if it was not started."""
        try:
            started = self._started.pop(name)
        except KeyError:
            raise KeyError(f"end_timer({name!r}) without start_timer({name!r})") from None
        return self.record(name, time.perf_counter() - started)

    def record(self, name: str, seconds: float) -> float:
        self.times.setdefault(name, []).append(seconds)
        return seconds

    def get_times(self, name: str) -> list[float]:
        """Every time recorded for ``name``; KeyError naming those that exist if none was."""
        if not self.times.get(name):
            raise KeyError(f"no timing recorded for {name!r} (recorded: {sorted(self.times) or 'none'})")
        return self.times[name]

    def get_average_time(self, name: str) -> float:
        times = self.get_times(name)
        return sum(times) / len(times)

    def get_median_time(self, name: str) -> float:
        return statistics.median(self.get_times(name))

    def generate_report(self) -> dict[str, Any]:
        """Per timing: count, mean, median, min and max, in seconds."""
        return {name: {"count": len(t), "mean_s": sum(t) / len(t), "median_s": statistics.median(t),
                       "min_s": min(t), "max_s": max(t)} for name, t in self.times.items() if t}


@dataclass(frozen=True)
class BenchmarkConfig:
    """Where reports go (None: nowhere; default from ``$PERFORMANCE_RESULTS_DIR``) and how often
    the resource monitor samples."""

    results_dir: Path | None = None
    sample_interval: float = DEFAULT_INTERVAL_S

    @classmethod
    def from_env(cls) -> BenchmarkConfig:
        where = os.environ.get(RESULTS_DIR_ENV)
        return cls(Path(where) if where else None)


class PerformanceBenchmark:
    """Base of a performance benchmark: metrics, a resource monitor, the spec's requirements."""

    def __init__(self, config: BenchmarkConfig | None = None):
        self.test_config = config if config is not None else BenchmarkConfig.from_env()
        self.metrics = PerformanceMetrics()
        self.resource_monitor = ResourceMonitor(self.test_config.sample_interval)
        self.scenario: str | None = None

    # -- lifecycle (sync, and the spec's async names) --------------------------------
    def setup(self, scenario: str) -> None:
        """Start measuring ``scenario``: fresh metrics, the monitor running."""
        self.scenario = scenario
        self.metrics.reset()
        self.resource_monitor.stop()
        self.resource_monitor.start()

    def teardown(self) -> dict[str, Any]:
        """Stop the monitor; return the report, saved first if a results directory is configured."""
        self.resource_monitor.stop()
        report = self.generate_report()
        self.save_benchmark_results(report)
        return report

    async def setup_benchmark(self, scenario: str) -> None:
        self.setup(scenario)

    async def teardown_benchmark(self) -> dict[str, Any]:
        return self.teardown()

    # -- timing ------------------------------------------------------------------------
    def start_timer(self, name: str) -> None:
        self.metrics.start_timer(name)

    def end_timer(self, name: str) -> float:
        return self.metrics.end_timer(name)

    # -- requirements ------------------------------------------------------------------
    def assert_performance_requirements(self, operation: str, max_time: float) -> None:
        """The mean time of ``operation`` is at most ``max_time`` seconds."""
        actual = self.metrics.get_average_time(operation)
        assert actual <= max_time, (f"Performance requirement failed: {operation} took {actual:.3f}s "
                                    f"(mean of {len(self.metrics.get_times(operation))}), max allowed {max_time}s")

    def assert_memory_requirements(self, max_memory_mb: float) -> None:
        """The peak RSS seen since :meth:`setup` is at most ``max_memory_mb`` MB (2**20 bytes)."""
        peak = self.current_peak_memory()
        assert peak <= max_memory_mb * MB, (f"Memory requirement failed: used {peak / MB:.1f}MB, "
                                             f"max allowed {max_memory_mb}MB")

    def current_peak_memory(self) -> int:
        """The peak RSS so far, with a sample taken now if the monitor runs."""
        if self.resource_monitor.running:
            self.resource_monitor.sample()
        return self.resource_monitor.get_peak_memory()

    # -- the report --------------------------------------------------------------------
    def generate_report(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "timings": self.metrics.generate_report(),
                "resources": self.resource_monitor.report()}

    def save_benchmark_results(self, report: dict[str, Any]) -> Path | None:
        """Write ``report`` to ``<results_dir>/<scenario>.json``; None when no directory is configured."""
        where = self.test_config.results_dir
        if where is None:
            return None
        where.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.scenario or "benchmark")
        path = where / f"{name}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        return path


class PerformanceTracker(PerformanceBenchmark):
    """What the ``performance_tracker`` fixture gives a test (set up before it, torn down after)."""

    def assert_performance(self, operation: str, max_time: float) -> None:
        """The spec's name for :meth:`assert_performance_requirements`."""
        self.assert_performance_requirements(operation, max_time)

    def get_memory_usage(self) -> int:
        """Bytes of RSS the test added at its worst so far: the peak since setup minus the RSS at
        setup (the interpreter and the modules already loaded are not the test's)."""
        return max(0, self.current_peak_memory() - self.resource_monitor.get_baseline_memory())
