"""``python -m stress.bench load`` runs its whole code path at tiny sizes and its correctness checks
pass (no timing is asserted)."""

import io

from stress.bench import BENCHMARKS
from stress.bench.load_bench import SP, SQLITE, measure


def test_load_benchmark_is_registered():
    assert BENCHMARKS["load"].load().run is not None


def test_load_benchmark_measures_every_figure_and_finds_no_failure():
    out = io.StringIO()
    result = measure([10, 50], repeat=1, out=out, quick=True, cli_size=50, cli_runs=1)
    assert result.failures == []
    figures = result.figures
    for size in (10, 50):
        for name in ("spec load_project", "spec load_project per task", "cold load, snapshot",
                     "cold load, full replay", "replay rate", "ready top-20, steady", "ready top-20, first call",
                     "cycle check, median", "analysis", "memory, RSS growth", "memory, Python heap (tracemalloc)"):
            figure = figures[f"{name} @{size}"]
            assert figure["median"] is not None and figure["median"] >= 0, (name, size)
            assert figure["repetitions"] == 1
    for name in ("cold load, snapshot", "ready top-20, steady", "cycle check, median"):
        assert figures[f"{name} @50"][SQLITE] is not None and figures[f"{name} @50"]["ratio_json_file"] is not None
    assert figures["process: planner ready --json @50"]["median"] > 0
    assert figures["process: python -c pass @50"]["median"] > 0
    assert "cold load, snapshot" in out.getvalue() and SP in out.getvalue()
