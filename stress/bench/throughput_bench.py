"""``python -m stress.bench throughput``: the spec's four throughput requirements, end to end.

Each scenario runs the whole path a user runs, through the public commands, and is verified
afterwards (``planner replay --verify``, every task in the state the scenario says); the
scenarios, their peers and their checks are in :mod:`stress.throughput`:

============  =====================================================  ======================  ============
scenario      the work (``--quick``: less, said in the table)        spec limit              peer
============  =====================================================  ======================  ============
planning      ``planner plan --exec`` (example decomposer) on each   500 tasks in 5 min      (MCP
              task of a 500-task outline, level by level; then the                           ``add_task``)
              same subtasks through MCP ``add_task`` from one client
working       1,000 state changes: ``planner set`` processes (no     1,000 in 2 min          SQLite from
              server, and with ``planner serve``), one Python                                1,000
              process (embedded, served)                                                     processes
multi-agent   ``planner work --agents 10 --exec 'sleep {effort}'``   10 agents, 200 tasks    ``make -j10``
              on a generated 200-task project (dependencies,         in 30 min               on the same
              capabilities); utilisation, idle time from the log                             graph
file I/O      1,000 operations (checkpoints with data, task reads,  1,000 in 1 min; 100/s
              exports) from 1 and from 10 processes                  with < 1% failures
============  =====================================================  ======================  ============

Figures, medians over ``--repeat`` repetitions (min..max beside): each scenario's time in
seconds (lower is better) with ``spec_limit_s`` (the spec's limit, scaled to the work done
when ``--quick`` does less) and ``headroom`` (the limit over the median: 3 means three
times faster than the spec asks); where a peer ran the same work in the same repetition,
``ratio_<peer>`` (ours / theirs, the median of the per-repetition ratios). The multi-agent
scenario's accounting (critical path, utilisation, idle time) is described in
:mod:`stress.throughput.agents`. Failures: whatever a verification found, an operation that
failed, a command that exited non-zero. Missed targets are reported, not failures.

Sizes: full 500 / 1,000 / 200 (leaves of 0.2..1 s) / 1,000, about 6.5 minutes per repetition
on two cores (the 1,000 ``planner set`` processes are most of it); ``--quick`` 11 / 40 / 30
(0.1..0.3 s) / 200, one repetition, about 30 s.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stress.bench import BenchResult, RunOptions
from stress.bench.figures import HIGHER, LOWER, spread
from stress.bench.stats import cell, format_table, median
from stress.procs import reap_committers
from stress.serving import bytecode_cache
from stress.throughput import agents as ag
from stress.throughput import fileops as fo
from stress.throughput import planning as pl
from stress.throughput import working as wk
from stress.throughput.common import CONCURRENT_OPS_PER_S, MAX_FAILURE_RATE, SPEC, limit_for


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does."""

    outline: tuple[int, int, int]  # planning: (areas, epics, features)
    changes: int  # working
    agent_tasks: int  # multi-agent: tasks generated
    effort: tuple[float, float]  # multi-agent: each leaf's command, seconds
    file_ops: int  # file I/O


FULL = Sizes((10, 7, 6), 1000, 200, (0.2, 1.0), 1000)
QUICK = Sizes((1, 2, 4), 40, 30, (0.1, 0.3), 200)
FILE_PROCESSES = (1, 10)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Repetition:
    planning: pl.PlanningRun
    working: wk.WorkingRun
    agents: ag.AgentsRun
    files: dict[int, fo.FileOpsRun]


def run(options: RunOptions, out: TextIO) -> BenchResult:
    sizes = QUICK if options.quick else FULL
    repeat = max(options.repeat, 1)
    reps: list[Repetition] = []
    root = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    try:
        with bytecode_cache() as env:
            env = {k: v for k, v in env.items() if k != "PLANNER_NO_SERVER"}
            for rep in range(repeat):
                work = root / f"rep{rep}"
                for part in ("planning", "working", "agents", "files"):
                    (work / part).mkdir(parents=True)
                _progress(f"[rep {rep + 1}/{repeat}] planning")
                planning = pl.run_planning(work / "planning", env, sizes.outline)
                _progress(f"[rep {rep + 1}/{repeat}] working")
                working = wk.run_working(work / "working", env, sizes.changes, rotate=rep)
                _progress(f"[rep {rep + 1}/{repeat}] multi-agent")
                agents = ag.run_agents(work / "agents", env, sizes.agent_tasks, *sizes.effort, seed=rep,
                                       make_first=rep % 2 == 1)
                _progress(f"[rep {rep + 1}/{repeat}] file I/O")
                files = {n: fo.run_fileops(work / "files", env, sizes.file_ops, n) for n in FILE_PROCESSES}
                reps.append(Repetition(planning, working, agents, files))
                for home in work.glob("*/home*"):
                    reap_committers(home, timeout=30)
                shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failures = [p for r in reps for p in (r.planning.problems + r.working.problems + r.agents.problems
                                          + [q for f in r.files.values() for q in f.problems])]
    result = BenchResult(figures=figures(reps), failures=failures)
    print_table(result.figures, reps, options.quick, out)
    print("verified (replay --verify, every task's state, the peers' results): "
          + ("every check passed" if not failures else f"{len(failures)} FAILURE(S):\n  " + "\n  ".join(failures)),
          file=out)
    return result


def _time(values: list[float], limit: float, **extra: Any) -> dict[str, Any]:
    """A time in seconds against the spec's (scaled) limit."""
    entry = spread(values, "s", LOWER, spec_limit_s=round(limit, 3), **extra)
    if entry["median"]:
        entry["headroom"] = round(limit / entry["median"], 3)
    return entry


def _peer(name: str, pairs: list[tuple[float, float]]) -> dict[str, float]:
    """``ratio_<name>``: the median of the per-repetition ratios ours / theirs."""
    ratios = [ours / theirs for ours, theirs in pairs if theirs]
    return {f"ratio_{name}": round(median(ratios), 4)} if ratios else {}


def figures(reps: list[Repetition]) -> dict[str, dict[str, Any]]:
    """The JSON entries (see the module docstring)."""
    if not reps:
        return {}
    out: dict[str, dict[str, Any]] = {}
    p = [r.planning for r in reps]
    n = p[0].tasks
    out[f"planning: planner plan, {n} tasks"] = _time([x.cli_s for x in p], limit_for("planning", n), tasks=n)
    out[f"planning: MCP add_task, {n} tasks"] = _time([x.mcp_s for x in p], limit_for("planning", n), tasks=n,
                                                      **_peer("cli", [(x.mcp_s, x.cli_s) for x in p]))
    out["planning: decomposer processes' share"] = spread([x.decomposer_share for x in p], "fraction", None,
                                                          decomposer_ms=round(median(x.decomposer_s for x in p) * 1e3, 2))
    w = [r.working for r in reps]
    c = w[0].changes
    for way in wk.WAYS:
        values = [x.seconds[way] for x in w if way in x.seconds]
        if way == wk.SQLITE:
            out[f"working: SQLite processes, {c} changes"] = _time(values, limit_for("working", c), peer=True)
            continue
        pairs = [(x.seconds[way], x.seconds[wk.SQLITE]) for x in w if way.startswith("cli") and wk.SQLITE in x.seconds]
        out[f"working: {way}, {c} changes"] = _time(values, limit_for("working", c), **_peer("sqlite", pairs))
    a = [r.agents for r in reps]
    t = a[0].tasks
    out[f"multi-agent: planner work, {t} tasks"] = _time(
        [x.planner_s for x in a], limit_for("agents", t), target_vs_make="<= 1.2",
        **_peer("make", [(x.planner_s, x.make_s) for x in a]))
    out[f"multi-agent: make -j{ag.AGENTS} (peer), {t} tasks"] = _time([x.make_s for x in a], limit_for("agents", t),
                                                                      peer=True)
    out["multi-agent: critical path"] = spread([x.critical_path_s for x in a], "s", None)
    out["multi-agent: bound (critical path, work / agents)"] = spread([x.bound_s for x in a], "s", None)
    out["multi-agent: total over the critical path"] = spread([x.planner_s / x.critical_path_s for x in a], "x", LOWER)
    out["multi-agent: total over the bound"] = spread([x.planner_s / x.bound_s for x in a], "x", LOWER)
    out["multi-agent: utilisation"] = spread([x.utilisation for x in a], "fraction", HIGHER)
    out["multi-agent: idle while work was ready"] = spread([x.idle_ready_s for x in a], "agent-s", LOWER)
    out["multi-agent: idle from dependencies"] = spread([x.idle_deps_s for x in a], "agent-s", None)
    out["multi-agent: agents' start"] = spread([x.start_s for x in a], "s", LOWER)
    out["multi-agent: last completion to exit"] = spread([x.tail_s for x in a], "s", LOWER)
    out["multi-agent: held overhead per task"] = spread([x.held_overhead_ms for x in a], "ms", LOWER)
    for procs in FILE_PROCESSES:
        f = [r.files[procs] for r in reps]
        ops = f[0].ops
        out[f"file I/O: {ops} ops, {procs} process{'es' if procs > 1 else ''}"] = _time(
            [x.seconds for x in f], limit_for("fileops", ops), ops_per_s=round(median(x.per_s for x in f), 1))
        out[f"file I/O: ops/s, {procs} process{'es' if procs > 1 else ''}"] = spread(
            [x.per_s for x in f], "ops/s", HIGHER, target=f">= {CONCURRENT_OPS_PER_S:g}")
        out[f"file I/O: failure rate, {procs} process{'es' if procs > 1 else ''}"] = spread(
            [x.failure_rate for x in f], "fraction", LOWER, target=f"< {MAX_FAILURE_RATE:g}")
    return out


def _range(entry: dict[str, Any], scale: float = 1.0) -> str:
    if entry["median"] is None:
        return "-"
    return f"{cell(entry['median'] * scale)} ({cell(entry['min'] * scale)}..{cell(entry['max'] * scale)})"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(figs: dict[str, dict[str, Any]], reps: list[Repetition], quick: bool, out: TextIO) -> None:
    if not reps:
        return
    print(f"\nstress.bench throughput: the spec's throughput requirements end to end, {len(reps)} repetition(s)"
          f"{' (--quick: less work than the spec, its limits scaled to it)' if quick else ''}; medians "
          f"(min..max); headroom = spec limit / median; x peer = ours / theirs in the same repetition", file=out)
    rows: list[list[str]] = []
    for key, entry in figs.items():
        if entry.get("unit") != "s" or "spec_limit_s" not in entry:
            continue
        peer = next(((k.removeprefix("ratio_"), v) for k, v in entry.items() if k.startswith("ratio_")), None)
        met = entry["median"] is not None and entry["median"] <= entry["spec_limit_s"]
        rows.append([key, _range(entry), f"{entry['spec_limit_s']:g}", f"{entry.get('headroom', float('nan')):.2f}x",
                     "peer" if entry.get("peer") else _verdict(met),
                     f"{peer[1]:.2f}x {peer[0]}" if peer else ""])
    print(format_table(["scenario", "seconds", "limit s", "headroom", "spec", "x peer"], rows), file=out)
    agents = [k for k in figs if k.startswith("multi-agent: planner work")][0]
    vs_make = figs[agents].get("ratio_make")
    print(f"\nmulti-agent, {ag.AGENTS} agents ('sleep {{effort}}' per task): "
          f"{_verdict(vs_make is not None and vs_make <= 1.2)} the target of 1.2x make -j{ag.AGENTS} "
          f"({'-' if vs_make is None else f'{vs_make:.2f}x'})", file=out)
    info = ["critical path", "bound (critical path, work / agents)", "total over the critical path",
            "total over the bound", "utilisation",
            "idle while work was ready", "idle from dependencies", "agents' start", "last completion to exit",
            "held overhead per task"]
    print(format_table(["", "median (min..max)", "unit"],
                       [[name, _range(figs[f"multi-agent: {name}"]), figs[f"multi-agent: {name}"]["unit"]]
                        for name in info]), file=out)
    p = figs["planning: decomposer processes' share"]
    print(f"\nplanning: the decomposer processes were {_range(p, 100)} % of planner plan's time "
          f"({p['decomposer_ms']:g} ms each, spawn to exit)", file=out)
    for procs in FILE_PROCESSES:
        suffix = f"{procs} process{'es' if procs > 1 else ''}"
        rate, fails = figs[f"file I/O: ops/s, {suffix}"], figs[f"file I/O: failure rate, {suffix}"]
        print(f"file I/O, {suffix}: {_range(rate)} ops/s ({_verdict((rate['median'] or 0) >= CONCURRENT_OPS_PER_S)}"
              f" >= {CONCURRENT_OPS_PER_S:g}/s), failures {_range(fails, 100)} % "
              f"({_verdict(fails['median'] is not None and fails['median'] < MAX_FAILURE_RATE)} < "
              f"{MAX_FAILURE_RATE * 100:g} %)", file=out)
    sizes = ", ".join(f"{name} {SPEC[name][1]:,}" for name in SPEC)
    print(f"(the spec's sizes: {sizes})", file=out)
