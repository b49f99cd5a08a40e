"""``python -m stress.bench mcp`` runs its whole code path on a small project and its correctness
checks pass; its figures have the shape the regression check reads (no timing is asserted)."""

import io

from stress.bench import BENCHMARKS
from stress.bench.figures import readings
from stress.bench.mcp_bench import MODES, TOOLS, measure


def test_mcp_benchmark_is_registered():
    assert BENCHMARKS["mcp"].load().run is not None


def test_mcp_benchmark_measures_every_figure_and_finds_no_failure():
    out = io.StringIO()
    result = measure(size=200, repeat=1, calls=4, runs=2, out=out)
    assert result.failures == []
    figures = result.figures
    for mode in MODES:
        for tool, command in TOOLS.items():
            ours, cli = figures[f"mcp {tool}, {mode}"], figures[f"cli {command}, {mode}"]
            assert 0 < ours["min"] <= ours["median"] <= ours["max"] and ours["repetitions"] == 1, (tool, mode)
            assert ours["unit"] == cli["unit"] == "ms" and ours["target"] == "< 5" and cli["peer"] is True
            assert ours["ratio_cli"] == round(ours["median"] / cli["median"], 4)  # one repetition: the medians' ratio
        assert figures[f"mcp session start, {mode}"]["median"] > 0
    read = readings({"mcp": figures})
    assert set(read["mcp: mcp ready, served"].ratios) == {"cli"}
    assert "mcp: mcp session start, served" not in read  # information only
    text = out.getvalue()
    assert "ready, embedded" in text and "claim_task, served" in text and "MCP/CLI" in text
