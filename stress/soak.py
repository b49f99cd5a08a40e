"""BENCH-005, a soak: agent processes working a 1,000-task project at a steady pace for a long time;
their memory, garbage-collector pauses and latency over the run; a leak fails it; then an
independent verification of everything acknowledged.

``python -m stress.soak [--minutes 30] [--rate 50] [--agents 10] [--tasks 1000]
[--complete-share 0.05] [--warmup 0.25] [--sample S] [--seed S] [--no-archive] [--home DIR]
[--json FILE]``

What runs. A project from ``generate_complex_project(--tasks)`` (a hierarchy,
dependencies, capabilities) is imported and snapshotted. ``--agents`` processes
(:mod:`stress.soak_agent`) each offer ``rate / agents`` operations per second
on an open-loop schedule for ``--minutes``: claim, start, checkpoint, look (a
query), then complete (a share ``--complete-share`` of the cycles, each
followed by a new task added in its place) or give the task back to pending
(re-opened); so the work never runs out and the project grows slowly. One more
process, the *control*, keeps the same pace doing JSON round trips without the
planner: the memory slope of a process that does not grow, i.e. the noise floor.

Memory. The runner samples every process's RSS with psutil every ``--sample``
seconds (default: the run / 200, between 0.25 and 5 s). Per process: baseline
(the last sample before the first operation: the project open, the agent
registered), peak, peak / baseline, and the slope after warm-up (the first
``--warmup`` share of the run, default a quarter: caches filling, the
idempotency index read in, the allocator reaching its working set), fitted by
least squares against time (KB per minute) and against the operations all
agents had finished (KB per 1,000 operations). What the slope may be is in
:mod:`stress.leak`: every process must remember one idempotency key per
command in the log and every task added, both measured here with tracemalloc
(bytes per key, bytes per task); a slope beyond 1.5x that, plus 16 B per
operation, by more than twice its standard error and by more than 2 MB over
the fitted stretch, is a leak, and fails the run.

Garbage collection: every pause in every agent (``gc.callbacks``, see
:mod:`stress.gcwatch`): collections per generation and per minute, p99 and max
pause (spec: < 100 ms) with the CPU time of that longest one (a pause is wall
time: on a busy machine it includes waiting for a core), and the full
(generation 2) collections' pauses and CPU times in the first and the last
third of the run (they grow with the heap). Latency (from each operation's due time, so queueing
counts) in the first and the last third of the run (spec: stable over long
runs). Targets are reported, not failures.

The verification, at the end, independent of the engine's code:
:func:`stress.verify.audit` re-reads the raw log (seqs, checksums), replays it
against the state table and the lease rules, and finds every journaled command
in the log with what the agent was told; then the other direction: as many
leases granted, tasks completed and tasks added as were acknowledged, nothing
left leased; plus the engine's own check (incremental state = recomputation).
Exit status 0 when all of that held, no agent had an error and nothing leaked;
1 otherwise; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import json
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import psutil
from pydantic import BaseModel, BeforeValidator

from . import leak
from .bench.stats import LatencySummary
from .gcwatch import merged_percentile
from .procs import Children, reap_committers, run_runner
from .soak_agent import KINDS
from .verify import audit, read_journal

PROJECT = "soak"
PREPARE_TIMEOUT_S = 120.0
DRAIN_ALLOWANCE_S = 120.0
START_LEAD_S = 0.3
TARGET_GC_MS = 100.0  # spec: GC pauses < 100 ms
TARGET_PEAK = 2.0  # spec: peak memory < 2x baseline


# -- the report (the --json output) -------------------------------------------------------------
def _measured(value: float | None) -> float:
    return math.nan if value is None else value


# NaN when not measured: written as null (JSON has no NaN), read back as NaN
Measured = Annotated[float, BeforeValidator(_measured)]


class Memory(BaseModel):
    """One process's RSS over the run."""

    process: str
    baseline_mb: float
    peak_mb: float
    peak_over_baseline: Measured
    kb_per_min: Measured
    kb_per_1000_ops: Measured
    kb_per_1000_ops_2se: Measured
    limit_kb_per_1000_ops: float
    leak: bool
    verdict: str
    samples: list[tuple[float, int]]  # (seconds after t0, RSS bytes)


class Spread(BaseModel):
    """Durations (latencies or pauses) in one stretch of the run."""

    count: int
    p50_ms: Measured
    p99_ms: Measured
    max_ms: Measured


class Gc(BaseModel):
    collections: list[int]  # per generation, all agents
    per_minute: list[Measured]  # per generation, per agent
    p99_ms: Measured
    max_ms: Measured  # wall time: on a busy machine, also the time the process waited for a core
    max_cpu_ms: Measured  # the CPU time of that longest pause: the collector's own work
    max_ms_by_generation: list[float]
    total_s: float
    full_first_third: Spread  # generation-2 pauses, all agents: the trend over the run
    full_last_third: Spread
    full_cpu_first_third: Spread  # their CPU times
    full_cpu_last_third: Spread


class SoakReport(BaseModel):
    when: str
    machine: dict[str, Any]
    agents: int
    minutes: float
    rate: float
    tasks: int
    archive: bool
    warmup_share: float
    offered: int
    served: int
    achieved_per_s: float
    counts: dict[str, int]
    errors: int
    error_samples: list[str]
    lost_leases: int
    backlog: int
    first_third: Spread
    last_third: Spread
    allowance: dict[str, float]
    memory: list[Memory]
    control: Memory | None
    gc: Gc
    verification: dict[str, Any]
    problems: list[str]
    ok: bool


# -- the project ----------------------------------------------------------------------------------
def prepare(home: Path, tasks: int, seed: int) -> list[str]:
    """The project, imported, in working mode, snapshotted; every capability its tasks need."""
    from fixtures.generators import generate_complex_project
    from planner import Planner
    from planner.plans.importing import import_plan, read_fixture

    plan = generate_complex_project(tasks, seed=seed).to_dict()
    with Planner.open(home, PROJECT, create=True) as p:
        import_plan(p, read_fixture(plan, f"generated-{tasks}.json"))
        p.set_mode("working")
        p.snapshot()
    return sorted({c for t in plan["tasks"] for c in t.get("capabilities_required", ())})


# -- sampling RSS ------------------------------------------------------------------------------------
class Sampler:
    """RSS of some processes every ``interval`` s, in a thread, times relative to ``origin``
    (``time.monotonic``); the timer is a schedule, not a synchronisation."""

    def __init__(self, pids: dict[str, int], interval: float, origin: float):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.interval = interval
        self.origin = origin  # samples taken before it (the baseline) have negative times
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic() - self.origin
            for name, proc in self.procs.items():
                try:
                    self.samples[name].append((now, proc.memory_info().rss))
                except psutil.Error:
                    pass
            self._stop.wait(self.interval)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- analysis ----------------------------------------------------------------------------------------
def _spread(seconds: list[float]) -> Spread:
    s = LatencySummary.of(seconds)
    return Spread(count=s.count, p50_ms=s.p50_ms, p99_ms=s.p99_ms, max_ms=s.max_ms)


def memory_of(name: str, samples: list[tuple[float, int]], finished: list[float], warmup_s: float,
              limit_per_1000: float, minutes: float) -> Memory:
    """One process's figures and verdict (see the module docstring); ``finished``: the sorted
    times (s after t0) at which the agents' operations finished."""
    before = [rss for t, rss in samples if t < 0]
    baseline = before[-1] if before else (samples[0][1] if samples else 0)
    peak = max((rss for _, rss in samples), default=0)
    after = [(t, rss) for t, rss in samples if t >= warmup_s and t <= minutes * 60]
    by_time = leak.fit([t / 60 for t, _ in after], [float(rss) for _, rss in after])
    ops_at = [float(bisect.bisect_right(finished, t)) for t, _ in after]
    by_ops = leak.fit(ops_at, [float(rss) for _, rss in after])
    span = ops_at[-1] - ops_at[0] if len(ops_at) > 1 else 0.0
    verdict = leak.verdict(by_ops.slope * 1000, by_ops.stderr * 1000, limit_per_1000, span)
    return Memory(process=name, baseline_mb=baseline / 2**20, peak_mb=peak / 2**20,
                  peak_over_baseline=peak / baseline if baseline else math.nan,
                  kb_per_min=by_time.slope / 1024, kb_per_1000_ops=by_ops.slope * 1000 / 1024,
                  kb_per_1000_ops_2se=2 * by_ops.stderr * 1000 / 1024, limit_kb_per_1000_ops=limit_per_1000 / 1024,
                  leak=verdict.leak, verdict=verdict.why, samples=[(round(t, 3), rss) for t, rss in samples])


def gc_of(figures: list[dict[str, Any]], minutes: float, t0: float) -> Gc:
    """Every agent's collections together; full collections split by when they ended (``t0``:
    the window's start, ``time.monotonic``)."""
    counts = [sum(f["gc"]["count"][g] for f in figures) for g in range(3)]
    per_minute = [c / len(figures) / minutes if figures and minutes else math.nan for c in counts]
    max_by_gen = [max((f["gc"]["max_s"][g] for f in figures), default=0.0) * 1e3 for g in range(3)]
    longest = max(((f["gc"]["max_s"][g], f["gc"]["max_cpu_s"][g]) for f in figures for g in range(3)), default=(0, 0))
    p99 = merged_percentile([f["gc"]["hist"] for f in figures], 99) * 1e3
    full = [(at - t0, pause, cpu) for f in figures for at, pause, cpu in zip(*f["gc"]["full"], strict=True)]
    first, last = minutes * 60 / 3, minutes * 60 * 2 / 3
    return Gc(collections=counts, per_minute=per_minute,
              p99_ms=min(p99, longest[0] * 1e3),  # (a bucket's upper edge may pass the max)
              max_ms=longest[0] * 1e3, max_cpu_ms=longest[1] * 1e3, max_ms_by_generation=max_by_gen,
              total_s=sum(sum(f["gc"]["total_s"]) for f in figures),
              full_first_third=_spread([p for at, p, _ in full if at < first]),
              full_last_third=_spread([p for at, p, _ in full if at >= last]),
              full_cpu_first_third=_spread([c for at, _, c in full if at < first]),
              full_cpu_last_third=_spread([c for at, _, c in full if at >= last]))


# -- the verification ----------------------------------------------------------------------------------
def final_check(home: Path, journals: list[Path], imported: int) -> dict[str, Any]:
    """The raw log against the state table and the agents' journals, both directions (``imported``:
    the tasks the project started with); the engine's own check. ``{"ok", "summary", "problems"}``."""
    from planner import Planner

    result = audit(home, PROJECT, journals)
    problems = list(result.problems)
    entries = [e for j in journals for e in read_journal(j)]
    acked = {what: sum(e["what"].startswith(what + " ") for e in entries) for what in ("claim", "complete", "add")}
    model = result.model
    if model is not None and not result.problems:
        completed = sum(t.state == "completed" for t in model.tasks.values())
        added = len(model.tasks) - imported
        if model.last_token != acked["claim"]:
            problems.append(f"{model.last_token} leases granted in the log, {acked['claim']} claims acknowledged")
        if completed != acked["complete"]:
            problems.append(f"{completed} tasks completed in the log, {acked['complete']} completions acknowledged")
        if added != acked["add"]:
            problems.append(f"{added} tasks added by agents in the log, {acked['add']} additions acknowledged")
        if model.leases:
            problems.append(f"{len(model.leases)} task(s) still leased at the end, e.g. {sorted(model.leases)[:3]}")
    with Planner.open(home, PROJECT, archive_every=0, archive_interval=0) as p:
        if p.graph.derived() != p.graph.recompute():
            problems.append("the engine's incremental state differs from a recomputation")
    summary = (f"{result.summary()}; {acked['claim']} claims, {acked['complete']} completions and {acked['add']} "
               "additions acknowledged, as many in the log")
    if problems:
        summary = summary.replace("verification OK", f"verification {len(problems)} PROBLEM(S)", 1)
    return {"ok": not problems, "summary": summary, "problems": problems}


# -- the run --------------------------------------------------------------------------------------------
def run(work: Path, minutes: float, rate: float, agents: int, tasks: int, complete_share: float, warmup: float,
        sample: float | None, seed: int, archive: bool, leak_bytes: int = 0,
        say: Callable[[str], None] = print) -> SoakReport:
    duration = minutes * 60
    home = work / "home"
    journals = work / "journals"
    journals.mkdir(parents=True, exist_ok=True)
    interval = sample or min(max(duration / 200, 0.25), 5.0)
    say(f"stress.soak (BENCH-005): {agents} agent processes + 1 control, {rate:g} operations/s in all for "
        f"{minutes:g} min on a {tasks:,}-task project; RSS sampled every {interval:g} s; {os.cpu_count()} CPUs; "
        f"work dir {work}")
    capabilities = prepare(home, tasks, seed)
    key_b, task_b = leak.key_bytes(), leak.task_bytes(home, PROJECT)
    say(f"  measured: {key_b:,.0f} B per idempotency key, {task_b:,.0f} B per task (tracemalloc)")
    outs = work / "figures"
    outs.mkdir(exist_ok=True)
    with Children(work / "logs") as kids:
        for i in range(agents):
            kids.start(f"agent-{i}", ["stress.soak_agent", "--name", f"agent-{i}", "--index", str(i),
                                      "--agents", str(agents)])
        kids.start("control", ["stress.soak_agent", "--name", "control", "--index", str(agents), "--agents",
                               str(agents), "--control"])
        for child in kids.all:
            child.send({"op": "prepare", "target": {"home": str(home), "project": PROJECT, "archive": archive,
                                                    "journal": str(journals / f"{child.name}.jsonl")},
                        "rate": rate, "duration": duration, "out": str(outs / f"{child.name}.json"), "seed": seed,
                        "complete_share": complete_share, "capabilities": capabilities, "leak_bytes": leak_bytes})
        ready = kids.ask_all(None, PREPARE_TIMEOUT_S)
        t0 = time.monotonic() + START_LEAD_S
        sampler = Sampler({c.name: r["pid"] for c, r in zip(kids.all, ready, strict=True)}, interval, t0).start()
        try:
            kids.ask_all({"op": "start", "t0": t0}, START_LEAD_S + duration + DRAIN_ALLOWANCE_S)
        finally:
            sampler.stop()
        kids.stop()
    figures = {c.name: json.loads((outs / f"{c.name}.json").read_text()) for c in kids.all}
    reaped = reap_committers(home)
    if reaped:
        say(f"  (waited for {reaped} git archive committer(s) to finish)")
    report = analyse(figures, sampler.samples, minutes, rate, agents, tasks, warmup, key_b, task_b, archive, t0)
    say("verifying: the raw log re-read and replayed, every journal checked ...")
    began = time.monotonic()
    verification = final_check(home, sorted(journals.glob("agent-*.jsonl")), tasks)
    say(f"  (verified in {time.monotonic() - began:.0f} s)")
    report.verification = verification
    report.problems += verification["problems"]
    report.ok = not report.problems
    return report


def analyse(figures: dict[str, dict[str, Any]], samples: dict[str, list[tuple[float, int]]], minutes: float,
            rate: float, agents: int, tasks: int, warmup: float, key_b: float, task_b: float, archive: bool,
            t0: float) -> SoakReport:
    duration = minutes * 60
    workers = [f for name, f in figures.items() if not f["control"]]
    finished = sorted(d + x for f in workers for d, x in zip(f["ops"]["due"], f["ops"]["latency"], strict=True))
    counts = {k: sum(f["counts"][k] for f in workers) for k in KINDS if k != "control"}
    served = len(finished)
    commands = sum(counts[k] for k in ("claim", "start", "checkpoint", "complete", "reopen", "add"))
    allowance = leak.Allowance(key_bytes=key_b, task_bytes=task_b,
                               commands_per_1000=1000 * commands / served if served else 0.0,
                               tasks_per_1000=1000 * counts["add"] / served if served else 0.0)
    warmup_s = warmup * duration
    memory = [memory_of(name, samples.get(name, []), finished, warmup_s, allowance.limit, minutes)
              for name in figures if not figures[name]["control"]]
    control = next((memory_of(name, samples.get(name, []), finished, warmup_s, leak.MARGIN_PER_1000, minutes)
                    for name in figures if figures[name]["control"]), None)
    thirds = [[x for f in workers for d, x in zip(f["ops"]["due"], f["ops"]["latency"], strict=True)
               if lo <= d < hi] for lo, hi in ((0, duration / 3), (duration * 2 / 3, math.inf))]
    errors = sum(f["errors"] for f in workers)
    problems = [f"{m.process}: {m.verdict}" for m in memory if m.leak]
    if errors:
        problems.append(f"the agents had {errors} error(s), e.g. {[s for f in workers for s in f['error_samples']][:2]}")
    span = max(duration, finished[-1]) if finished else duration
    return SoakReport(
        when=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        machine={"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        agents=agents, minutes=minutes, rate=rate, tasks=tasks, archive=archive, warmup_share=warmup,
        offered=sum(f["offered"] for f in workers), served=served, achieved_per_s=served / span, counts=counts,
        errors=errors, error_samples=[s for f in workers for s in f["error_samples"]][:5],
        lost_leases=sum(f["lost_leases"] for f in workers), backlog=sum(f["backlog"] for f in workers),
        first_third=_spread(thirds[0]), last_third=_spread(thirds[1]),
        allowance={"key_bytes": key_b, "task_bytes": task_b, "commands_per_1000_ops": allowance.commands_per_1000,
                   "tasks_per_1000_ops": allowance.tasks_per_1000, "expected_kb_per_1000_ops": allowance.expected / 1024,
                   "limit_kb_per_1000_ops": allowance.limit / 1024},
        memory=memory, control=control, gc=gc_of(workers, minutes, t0), verification={}, problems=problems,
        ok=not problems)


# -- printing ------------------------------------------------------------------------------------------
def report_lines(r: SoakReport) -> list[str]:
    a = r.allowance
    counts = ", ".join(f"{n:,} {k}" for k, n in r.counts.items() if n)
    lines = [
        f"operations: {r.served:,} served of {r.offered:,} offered ({r.achieved_per_s:,.1f}/s of {r.rate:g}/s): "
        f"{counts}; {r.errors} errors, {r.lost_leases} lost leases, backlog {r.backlog}",
        f"latency (from the due time) first third: p50 {r.first_third.p50_ms:.2f} ms, p99 {r.first_third.p99_ms:.2f} ms, "
        f"max {r.first_third.max_ms:.1f} ms; last third: p50 {r.last_third.p50_ms:.2f} ms, p99 "
        f"{r.last_third.p99_ms:.2f} ms, max {r.last_third.max_ms:.1f} ms "
        f"(p99 last/first {_ratio(r.last_third.p99_ms, r.first_third.p99_ms)})",
        "",
        f"memory: RSS per process; slopes fitted after the first {_warm(r)}; allowed growth = 1.5 x "
        f"({a['commands_per_1000_ops']:,.0f} commands x {a['key_bytes']:,.0f} B per idempotency key + "
        f"{a['tasks_per_1000_ops']:,.1f} tasks added x {a['task_bytes']:,.0f} B per task) + 16 KB "
        f"= {a['limit_kb_per_1000_ops']:,.1f} KB per 1,000 ops (expected by design: {a['expected_kb_per_1000_ops']:,.1f})",
        f"{'process':<10} {'baseline MB':>11} {'peak MB':>8} {'peak/base':>9} {'KB/min':>8} {'KB/1k ops':>10} "
        f"{'+-2SE':>7} {'x expected':>10} {'limit':>7}  verdict",
    ]
    expected = a["expected_kb_per_1000_ops"]
    for m in [*r.memory, *([r.control] if r.control else [])]:
        vs = "-" if m is r.control or not expected else f"{m.kb_per_1000_ops / expected:.2f}x"
        lines.append(f"{m.process:<10} {m.baseline_mb:>11.1f} {m.peak_mb:>8.1f} {m.peak_over_baseline:>9.2f} "
                     f"{m.kb_per_min:>8.1f} {m.kb_per_1000_ops:>10.1f} {m.kb_per_1000_ops_2se:>7.1f} {vs:>10} "
                     f"{m.limit_kb_per_1000_ops:>7.1f}  {m.verdict}")
    agents = r.memory
    if agents:
        slopes = sorted(m.kb_per_min for m in agents)
        base = sorted(m.baseline_mb for m in agents)
        peak = max(m.peak_over_baseline for m in agents)
        slope, baseline = slopes[len(slopes) // 2], base[len(base) // 2]
        doubling = f"; at this pace RSS doubles in {baseline * 1024 / slope:,.0f} min" if slope > 0 else ""
        lines.append(f"agents: median slope {slope:,.1f} KB/min against a median baseline of {baseline:,.1f} MB "
                     f"({slope * 60 / 1024 / baseline:.1%} of it per hour{doubling}); control "
                     f"{r.control.kb_per_min if r.control else math.nan:,.1f} KB/min; peak/baseline at most "
                     f"{peak:.2f} (target < {TARGET_PEAK:g}: {'met' if peak < TARGET_PEAK else 'MISSED'})")
    g = r.gc
    lines += ["", f"GC pauses (all agents): {g.collections[0]:,} / {g.collections[1]:,} / {g.collections[2]:,} "
                  f"collections of generation 0 / 1 / 2 ({g.per_minute[0]:,.0f} / {g.per_minute[1]:,.1f} / "
                  f"{g.per_minute[2]:,.2f} per agent per minute); p99 {g.p99_ms:.2f} ms, max {g.max_ms:.2f} ms "
                  f"of which {g.max_cpu_ms:.2f} ms CPU (by generation {' / '.join(f'{x:.2f}' for x in g.max_ms_by_generation)}; "
                  f"target < {TARGET_GC_MS:g} ms: {'met' if g.max_ms < TARGET_GC_MS else 'MISSED'}); "
                  f"{g.total_s:.2f} s in all",
              f"full (generation 2) collections, wall (CPU): first third {_full(g.full_first_third, g.full_cpu_first_third)}; "
              f"last third {_full(g.full_last_third, g.full_cpu_last_third)}"]
    lines += ["", r.verification.get("summary", "verification not run")]
    lines += [f"  PROBLEM: {p}" for p in r.problems]
    leaks = sum(m.leak for m in r.memory)
    lines.append(f"soak {'OK' if r.ok else 'FAILED'}: {leaks} leaking process(es), {r.errors} errors, "
                 f"{len(r.problems)} problem(s)")
    return lines


def _full(wall: Spread, cpu: Spread) -> str:
    if not wall.count:
        return "none"
    return (f"{wall.count}, p50 {wall.p50_ms:.2f} ({cpu.p50_ms:.2f}) ms, max {wall.max_ms:.2f} ({cpu.max_ms:.2f}) ms")


def _ratio(a: float, b: float) -> str:
    return "-" if not b or math.isnan(a) or math.isnan(b) else f"{a / b:.2f}x"


def _warm(r: SoakReport) -> str:
    return f"{r.minutes * 60 * r.warmup_share:.0f} s (warm-up)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run (default 30)")
    parser.add_argument("--rate", type=float, default=50.0, help="operations per second, all agents (default 50)")
    parser.add_argument("--agents", type=int, default=10, help="agent processes (default 10)")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks in the project at the start (default 1,000)")
    parser.add_argument("--complete-share", type=float, default=0.05,
                        help="share of cycles that complete their task (and add one); the rest re-open it")
    parser.add_argument("--warmup", type=float, default=0.25, help="share of the run left out of the slope fit")
    parser.add_argument("--sample", type=float, help="seconds between RSS samples (default: the run / 200, "
                                                     "0.25..5 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-archive", action="store_true", help="no git archive commits in the background")
    parser.add_argument("--home", type=Path, help="work here and keep it (default: a temporary directory, removed)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report to FILE as JSON")
    parser.add_argument("--inject-leak", type=int, default=0, metavar="BYTES", help=argparse.SUPPRESS)  # the tests'
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.agents < 1 or args.tasks < 1 or not 0 <= args.complete_share <= 1 \
            or not 0 <= args.warmup < 1:
        parser.error("--minutes, --rate, --agents and --tasks must be positive; --complete-share in 0..1, "
                     "--warmup in 0..1 (exclusive)")
    return run_runner(args.home, "stress-soak-", lambda work: run(
        work, args.minutes, args.rate, args.agents, args.tasks, args.complete_share, args.warmup, args.sample,
        args.seed, not args.no_archive, leak_bytes=args.inject_leak), report_lines, args.json)


if __name__ == "__main__":
    sys.exit(main())
