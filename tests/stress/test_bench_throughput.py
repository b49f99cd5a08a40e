"""``python -m stress.bench throughput --quick`` runs every scenario end to end, its verifications
pass, and its figures are self-consistent (units, directions, min <= median <= max, ratios of
the same repetition, the multi-agent bounds); no timing is asserted. Plus the graph arithmetic
the multi-agent scenario and its ``make`` peer rely on."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from stress.bench import BENCHMARKS
from stress.bench.figures import readings
from stress.serving import REPO
from stress.throughput.agents import AgentsRun, Graph, account
from stress.throughput.common import SPEC, limit_for

UNITS = {"s", "x", "fraction", "agent-s", "ms", "ops/s"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("throughput") / "quick.json"
    proc = subprocess.run([sys.executable, "-m", "stress.bench", "throughput", "--quick", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    return proc, json.loads(out.read_text()) if out.exists() else None


def test_throughput_benchmark_is_registered():
    assert BENCHMARKS["throughput"].load().run is not None


def test_quick_run_passes_its_verifications(quick):
    proc, results = quick
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert results["_meta"]["quick"] is True and results["_meta"]["benchmarks"] == ["throughput"]
    assert "--quick: less work than the spec" in proc.stdout and "make -j10" in proc.stdout


def test_figures_are_self_consistent(quick):
    _, results = quick
    figures = results["throughput"]
    for name, entry in figures.items():
        assert entry["unit"] in UNITS, name
        assert entry["repetitions"] == 1 and entry.get("better") in ("higher", "lower", None), name
        assert entry["min"] <= entry["median"] <= entry["max"], name
        if "spec_limit_s" in entry:  # a time against the spec's limit, scaled to the work done
            assert entry["unit"] == "s" and entry["better"] == "lower" and entry["median"] > 0, name
            assert entry["headroom"] == round(entry["spec_limit_s"] / entry["median"], 3), name
        for key, ratio in entry.items():
            if key.startswith("ratio_"):
                assert ratio > 0 and entry.get("better") == "lower", name
    # ours / the peer's of the same (single) repetition
    peers = {"planning: MCP add_task, 11 tasks": ("cli", "planning: planner plan, 11 tasks"),
             "working: cli, 40 changes": ("sqlite", "working: SQLite processes, 40 changes"),
             "working: cli, served, 40 changes": ("sqlite", "working: SQLite processes, 40 changes"),
             "multi-agent: planner work, 30 tasks": ("make", "multi-agent: make -j10 (peer), 30 tasks")}
    for ours, (peer, theirs) in peers.items():
        expected = figures[ours]["median"] / figures[theirs]["median"]
        assert figures[ours][f"ratio_{peer}"] == pytest.approx(expected, rel=1e-3), ours
    assert figures["working: SQLite processes, 40 changes"]["peer"] is True
    assert figures["multi-agent: make -j10 (peer), 30 tasks"]["peer"] is True
    assert figures["working: cli, 40 changes"]["spec_limit_s"] == limit_for("working", 40) == 120 * 40 / 1000


def test_multi_agent_accounting_respects_its_bounds(quick):
    figures = quick[1]["throughput"]
    ours, make = figures["multi-agent: planner work, 30 tasks"], figures["multi-agent: make -j10 (peer), 30 tasks"]
    bound, critical = figures["multi-agent: bound (critical path, work / agents)"], figures["multi-agent: critical path"]
    assert 0 < critical["median"] <= bound["median"] <= make["median"] and bound["median"] <= ours["median"]
    assert figures["multi-agent: total over the bound"]["median"] == pytest.approx(
        ours["median"] / bound["median"], rel=1e-3)
    assert figures["multi-agent: total over the critical path"]["median"] == pytest.approx(
        ours["median"] / critical["median"], rel=1e-3)
    assert 0 < figures["multi-agent: utilisation"]["median"] <= 1
    for name in ("idle while work was ready", "idle from dependencies", "agents' start", "last completion to exit"):
        assert figures[f"multi-agent: {name}"]["median"] >= 0, name


def test_file_operations_fail_nowhere_and_are_compared_by_the_regression_check(quick):
    figures = quick[1]["throughput"]
    for procs in ("1 process", "10 processes"):
        assert figures[f"file I/O: failure rate, {procs}"]["median"] == 0
        assert figures[f"file I/O: ops/s, {procs}"]["better"] == "higher"
    read = readings(quick[1])
    assert set(read["throughput: multi-agent: planner work, 30 tasks"].ratios) == {"make"}
    assert "throughput: multi-agent: critical path" not in read  # information only
    assert read["throughput: working: SQLite processes, 40 changes"].peer


def _graph() -> Graph:
    """C1 holds L1 and L2 and depends on L3; L4 depends on the container C1."""
    def task(tid, parent=None, effort=0.0, deps=()):
        return {"id": tid, "parent_id": parent, "estimated_effort": effort, "dependencies": list(deps)}
    return Graph({t["id"]: t for t in [task("C1", deps=["L3"]), task("L1", "C1", 1.0), task("L2", "C1", 2.0),
                                       task("L3", effort=0.5), task("L4", effort=1.5, deps=["C1"])]})


def test_a_containers_dependencies_hold_its_leaves_and_the_critical_path_follows():
    g = _graph()
    assert g.leaves == ["L1", "L2", "L3", "L4"]
    assert g.prerequisites("L1") == ["L3"] and g.prerequisites("L4") == ["C1"]
    assert g.critical_path() == 0.5 + 2.0 + 1.5  # L3, then L2 (the longer child of C1), then L4
    makefile = g.makefile()
    assert "C1: L1 L2\n" in makefile and "L1: L3\n\t@sleep 1\n" in makefile and "L4: C1\n" in makefile


def test_idle_time_is_split_between_ready_work_and_dependencies():
    g = _graph()

    def ev(kind, t, **data):
        return {"type": kind, "ts": f"2026-01-01T00:00:{t:09.6f}Z", "data": data}

    base = 1767225600.0  # 2026-01-01T00:00:00Z
    events = [ev("agent.registered", 0), ev("agent.registered", 0)]
    for task, claim, done in (("L3", 0, 0.5), ("L1", 0.6, 1.6), ("L2", 0.5, 2.5), ("L4", 2.5, 4.0)):
        events += [ev("task.assigned", claim, id=task),
                   ev("task.state_changed", done, id=task, to_state="completed")]
    run = AgentsRun(tasks=5, leaves=4, planner_s=4.0, make_s=4.0, critical_path_s=g.critical_path(), work_s=5.0)
    account(run, g, events, spawned=base)
    assert run.problems == [] and run.attempts == 4 and run.start_s == 0
    # 0..0.5: one agent idle, nothing ready (L1, L2 wait on L3); 0.5..0.6: L1 ready, an agent idle;
    # 1.6..2.5: one agent idle, nothing ready (L4 waits on C1); 2.5..4.0: one idle, nothing ready
    assert run.idle_ready_s == pytest.approx(0.1)
    assert run.idle_deps_s == pytest.approx(0.5 + 0.9 + 1.5)
    assert math.isclose(run.tail_s, 0.0, abs_tol=1e-6)


def test_spec_limits_are_the_documents():
    assert {k: (n, s) for k, (_, n, s) in SPEC.items()} == {
        "planning": (500, 300.0), "working": (1000, 120.0), "agents": (200, 1800.0), "fileops": (1000, 60.0)}
    assert Path(REPO, "stress", "throughput", "agents.py").exists()
