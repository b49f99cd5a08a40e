"""``python -m stress.bench git`` runs its whole code path at tiny sizes and its correctness checks
pass (no timing is asserted)."""

import io

from stress.bench import BENCHMARKS
from stress.bench.git_bench import EVENTS, PLANNER, around, commits_in, measure


def test_git_benchmark_is_registered():
    assert BENCHMARKS["git"].load().run is not None


def test_neighbours_and_commit_counts():
    seconds = [float(i) for i in range(1, 21)]
    assert around(seconds, 10) == (10.0, 6, 14)
    assert around(seconds, 20) == (16.0, 12, 20)
    assert around(seconds[:3], 1) == (2.0, 1, 3)
    assert commits_in(5.0, 1) == 1 and commits_in(5.0, 20) == 2 and commits_in(60.0, 10) == 10


def test_git_benchmark_measures_every_figure_and_finds_no_failure():
    out = io.StringIO()
    result = measure([20], {100: 1, 1000: 1}, history_commits=12, combos=[(2, 20)], repeat=1, duration=0.5,
                     out=out, profile=False)
    assert result.failures == []
    figures = result.figures
    for kind in (PLANNER, EVENTS):
        for batch in (100, 1000):
            figure = figures[f"commit {batch} events, {kind} @20 tasks"]
            assert figure["samples"] == 1 and figure["median_ms"] > 0 and figure["events_median"] >= batch
        assert figures[f"{kind}: commit #12 / #10"]["median"] > 0
    assert "met" in figures["commit 1000 events, planner archive @20 tasks"]
    assert figures["repository du / log bytes"]["median"] > 0
    assert figures["appends/s, no committer @2"]["median"] > 0
    committed = figures["appends/s, committer 20/min @2"]
    assert committed["commits_per_window"] == 1 and committed["events_per_commit_median"] > 0
    assert figures["ratio with/without committer 20/min @2"]["median"] > 0
    text = out.getvalue()
    assert "part 1" in text and "part 2" in text and "part 3" in text and "part 4" in text
