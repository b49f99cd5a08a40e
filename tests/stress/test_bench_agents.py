"""``python -m stress.bench agents`` runs its whole code path at tiny sizes and its correctness checks
pass (no timing is asserted)."""

import io
import math

from stress.bench import BENCHMARKS
from stress.bench.agents_bench import SERVED, SP, SQLITE, measure, measure_supervisor, planner_work_available
from stress.bench.figures import readings


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
    for system in (SP, SERVED, SQLITE):
        for procs in (1, 3):
            figure = figures[f"claims/s {system} @{procs}"]
            assert figure["median"] > 0 and figure["cycles_per_proc_min"] is not None, (system, procs)
            assert 0 < figure["p50_ms"] <= figure["p99_ms"] <= figure["max_ms"], (system, procs)
    for procs in (1, 3):
        for ours, theirs in ((SP, SQLITE), (SERVED, SQLITE), (SERVED, SP)):
            ratio = figures[f"ratio {ours}/{theirs} claims/s @{procs}"]
            assert ratio["unit"] == "x" and ratio["median"] > 0 and "better" not in ratio, (ours, theirs, procs)
        assert figures[f"claims/s {SERVED} @{procs}"]["server_cpu_pct"] > 0
    assert figures[f"ratio {SERVED}/{SQLITE} claims/s @1"]["target"] == ">= 1"  # the target from 1 process
    # the regression check compares both planners through their ratio to SQLite (not served / embedded)
    read = readings({"agents": figures})
    for system in (SP, SERVED):
        assert set(read[f"agents: claims/s {system} @3"].ratios) == {"sqlite"}
    text = out.getvalue()
    assert "balance: max deviation" in text and f"ratio {SP}/{SQLITE} claims/s @3 procs" in text
    assert f"ratio {SERVED}/{SQLITE} claims/s @3 procs" in text and f"{SERVED} p99 cycle @3 procs" in text


def test_supervisor_figures_are_measured_or_reported_unavailable(tmp_path):
    if not planner_work_available():
        assert measure_supervisor(tmp_path) == {"available": False}
        return
    got = measure_supervisor(tmp_path, agents=3)
    assert got.get("error") is None, got
    assert got["spawn_s"] > 0 and not math.isnan(got["rss_mb"])
