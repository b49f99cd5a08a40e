"""``python -m stress.bench load`` runs its whole code path at tiny sizes and its correctness checks
pass (no timing is asserted)."""

import io

from stress.bench import BENCHMARKS
from stress.bench.figures import readings
from stress.bench.load_bench import EMBEDDED, SP, SQLITE, measure


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


def test_load_benchmark_measures_the_served_figures_beside_the_embedded_and_the_peers():
    out = io.StringIO()
    result = measure([50], repeat=1, out=out, quick=True, cli_size=50, cli_runs=1, memory=False, eventsourcing=False,
                     server_sizes=(50,))
    assert result.failures == []
    figures = result.figures
    served = {key for key, entry in figures.items() if entry.get("served")}
    assert served == {f"{name} @50" for name in (
        "process: planner ready --json, served", "process: planner ready --json --all, served",
        "server start to first ready answer", "server RSS after first answer",
        "server peak RSS (VmHWM) after first answer")}
    for name in ("process: planner ready --json, served", "process: planner ready --json --all, served",
                 "server start to first ready answer"):
        entry = figures[f"{name} @50"]
        assert entry["median"] > 0 and entry["unit"] == "ms", name
        assert entry[EMBEDDED] > 0 and entry["x_embedded"] > 0, name  # beside the embedded, as information
        assert entry[SQLITE] > 0 and entry["ratio_sqlite"] > 0 and entry["ratio_json_file"] > 0, name
    embedded = figures["process: planner ready --json @50"]
    assert figures["process: planner ready --json, served @50"][EMBEDDED] == embedded["median"]
    assert figures["process: planner ready --json, served @50"]["target"] == "< 50.00"
    assert figures["server RSS after first answer @50"]["median"] > 0
    assert figures["server RSS after first answer @50"]["unit"] == "MB"
    # the regression check compares a served figure through its peers, never through the embedded planner
    entry = figures["server start to first ready answer @50"] | {"better": "lower"}  # (compared from 1,000 tasks)
    assert set(readings({"load": {"start": entry}})["load: start"].ratios) == {"sqlite", "json_file"}
    text = out.getvalue()
    assert "served: `planner serve` running on the home" in text and "server start to first ready answer" in text
