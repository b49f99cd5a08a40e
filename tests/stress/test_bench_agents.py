"""``python -m stress.bench agents`` runs its whole code path at tiny sizes and its correctness checks
pass (no timing is asserted)."""

import io
import math

from stress.bench import BENCHMARKS
from stress.bench.agents_bench import SP, SQLITE, measure, measure_supervisor, planner_work_available


def test_agents_benchmark_is_registered():
    assert BENCHMARKS["agents"].load().run is not None


def test_agents_benchmark_measures_every_figure_and_finds_no_failure():
    out = io.StringIO()
    result = measure([2, 3], repeat=1, duration=0.3, out=out, claim_procs=[1, 3], claim_tasks=150, supervisor=False)
    assert result.failures == []
    figures = result.figures
    for n in (2, 3):
        for name in ("spec coordination", "register agents", "first assignment", "assign batch, all agents",
                     "assign batch, median", "assign_all_tasks", "balance: max deviation", "batches"):
            figure = figures[f"{name} @{n} agents"]
            assert figure["median"] is not None and figure["median"] >= 0, (name, n)
            assert figure["repetitions"] == 1
    for system in (SP, SQLITE):
        for procs in (1, 3):
            figure = figures[f"claims/s {system} @{procs}"]
            assert figure["median"] > 0 and figure["cycles_per_proc_min"] is not None, (system, procs)
    assert figures[f"ratio {SP}/{SQLITE} claims/s @3"]["median"] > 0
    text = out.getvalue()
    assert "balance: max deviation" in text and f"ratio {SP}/{SQLITE} claims/s @3 procs" in text


def test_supervisor_figures_are_measured_or_reported_unavailable(tmp_path):
    if not planner_work_available():
        assert measure_supervisor(tmp_path) == {"available": False}
        return
    got = measure_supervisor(tmp_path, agents=3)
    assert got.get("error") is None, got
    assert got["spawn_s"] > 0 and not math.isnan(got["rss_mb"])
