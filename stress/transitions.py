"""BENCH-003, high-frequency state transitions: offered rates from agent processes, open loop,
beside SQLite and a whole-file JSON store doing the same guarded transitions; then an
independent verification of everything acknowledged.

``python -m stress.transitions [--rates 10,50,100,200,500] [--overload 2000] [--duration 60]
[--agents 8] [--tasks 15000] [--peers sqlite,json] [--seed S] [--no-archive] [--home DIR]
[--json FILE]``

What runs. ``--agents`` processes (:mod:`stress.transition_agent`, started
once, each in its own session) offer ``rate / agents`` transitions per second
each, for ``--duration`` seconds, at every rate of ``--rates``; then at the
``--overload`` rate, beyond what this machine can do, for at most
:data:`OVERLOAD_MAX_S` seconds (long enough to watch the queue grow): it shows
how the planner degrades. A transition is one durable command through the
public API (``Planner.claim``, ``transition(.., "in_progress", token=..)``,
``transition(.., "completed", token=..)``), each with a ``command_id`` and a
journal line once acknowledged. The schedule is open loop
(:mod:`stress.openloop`): every transition has a due time fixed in advance and
its latency runs from that time, so a system that falls behind shows queueing
as latency instead of quietly being offered less. Cycles still queued when the
window closes are the backlog (not errors).

Every rate gets fresh stores holding the tasks its offered load needs
(``rate x duration / 3`` independent tasks with varied priorities; at most
``--tasks``: a store that runs out is reported as drained): a planner project
(durability "always", the periodic snapshot and the git archive's background
commits as by default; ``--no-archive`` turns the archive off), a SQLite
database (WAL, ``synchronous=FULL``, :mod:`stress.peers.sqlite_claims`) and a
JSON file rewritten whole under a lock (:mod:`stress.peers.json_file_transitions`).
The systems run one after the other with the same agents, schedule and tasks;
the order rotates per rate.

Figures per rate and system: offered and achieved transitions/s (achieved:
the transitions that finished within the window, over its length; if the store
ran out, all of them over the time it took to empty it); latency from the due time, p50 / p99 / max; the p50 of transitions
finished in the first and in the last fifth of the window (growing when the
system queues); service time (the call alone, from its start to its return:
for the planner that includes the periodic snapshot when the command is the
one that triggers it) p50 / p99; errors; lost leases; the backlog at the end
and the oldest queued cycle's wait. Ratios superplanner / peer: achieved rate
(higher is better) and p99 latency (lower is better).

What is an error: any refusal or store error except a lost lease race (a
``StaleLease``, or the peers' ``StaleToken``; none is expected, leases last
300 s, and they are counted apart), and a claim that got nothing while tasks
were still pending. Any error of the planner fails the run; the peers' errors
are reported.

The verification, at the end (:func:`final_check`), independent of the
engine's code: :func:`stress.verify.audit` re-reads every project's raw log
(seqs contiguous, checksums), replays every event against the state table and
the lease rules (:mod:`stress.model`), and finds every journaled command in
the log with what the agent was told; then the other direction, from the same
replay: as many leases granted and tasks completed as were acknowledged,
nothing still leased. The engine's own check (incremental state equals a
recomputation) is added. The peers' stores are checked after their windows
(:func:`stress.peers.sqlite_claims.check` and its JSON twin). Exit status 0
when all of that held and the planner made no error; 1 otherwise; 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from .bench.stats import LatencySummary, median
from .openloop import offered_groups
from .peers import json_file_transitions, sqlite_claims
from .procs import Children, reap_committers, run_runner
from .verify import audit, read_journal

SP, SQLITE, JSON = "superplanner", "sqlite", "json"
LABELS = {SP: "superplanner", SQLITE: "SQLite", JSON: "JSON file"}
DEFAULT_RATES = (10, 50, 100, 200, 500)  # the spec's transition_rates
DEFAULT_OVERLOAD = 2000
OVERLOAD_MAX_S = 20.0  # long enough to watch the queue grow; short enough for its stores to stay small
DEFAULT_TASKS = 15_000
PREPARE_TIMEOUT_S = 120.0
DRAIN_ALLOWANCE_S = 120.0  # after the window: the cycles under way finish (a peer may be slow)
START_LEAD_S = 0.2  # t0 this far after the last agent said ready, so every agent has its start line by then
TARGET_RATE, TARGET_ERRORS, TARGET_SERVICE_MS = 200, 0.01, 100.0  # spec: 200/s with < 1% errors, < 100 ms each


# -- the report (the --json output) ---------------------------------------------------------
def _measured(value: float | None) -> float:
    return math.nan if value is None else value


# NaN when not measured: written as null (JSON has no NaN), read back as NaN
Measured = Annotated[float, BeforeValidator(_measured)]


class Latency(BaseModel):
    p50_ms: Measured
    p99_ms: Measured
    max_ms: Measured
    count: int


class Window(BaseModel):
    """One system at one rate."""

    system: str
    offered: int
    offered_per_s: float
    served: int
    achieved_per_s: Measured
    latency: Latency
    service: Latency
    early_p50_ms: Measured
    late_p50_ms: Measured
    errors: int
    error_samples: list[str]
    lost_leases: int
    skipped: int
    backlog: int
    oldest_wait_s: float
    drained_at_s: float | None
    problems: list[str]


class RateResult(BaseModel):
    rate: float
    overload: bool
    duration_s: float
    tasks: int
    windows: dict[str, Window]
    ratios: dict[str, dict[str, float | None]]  # peer -> {"achieved": ours/theirs, "p99": ours/theirs}


class Verification(BaseModel):
    ok: bool
    summaries: list[str]
    problems: list[str]


class TransitionsReport(BaseModel):
    when: str
    machine: dict[str, Any]
    agents: int
    duration_s: float
    seed: int
    archive: bool
    results: list[RateResult]
    verification: Verification
    problems: list[str]
    ok: bool


# -- the stores ---------------------------------------------------------------------------------
def transition_project(tasks: int, seed: int) -> dict[str, Any]:
    """``tasks`` independent leaves with varied priorities and efforts (seeded), fixture format."""
    rng = random.Random(f"stress-transitions:{seed}")
    width = len(str(tasks))
    priorities = ("low", "medium", "medium", "high", "critical")
    return {"project": {"id": "transitions", "name": f"{tasks} independent tasks"},
            "tasks": [{"id": f"t{i:0{width}d}", "name": f"Task {i}", "priority": rng.choice(priorities),
                       "estimated_effort": float(rng.choice((1, 2, 3, 5)))} for i in range(tasks)]}


def project_name(rate: float, overload: bool = False) -> str:
    return f"{'overload' if overload else 'rate'}-{rate:g}"


def prepare_stores(work: Path, name: str, fixture: dict[str, Any], systems: list[str], archive: bool
                   ) -> dict[str, dict[str, Any]]:
    """Fresh stores named ``name`` holding ``fixture`` for each system; the target each agent opens."""
    from planner import Planner
    from planner.plans.importing import import_plan, read_fixture

    targets: dict[str, dict[str, Any]] = {}
    if SP in systems:
        home = work / "home"
        with Planner.open(home, name, create=True) as p:
            import_plan(p, read_fixture(fixture, f"{name}.json"))
            p.set_mode("working")
            p.snapshot()  # the agents open from it
        targets[SP] = {"home": str(home), "project": name, "archive": archive, "journals": str(work / "journals" / name)}
        (work / "journals" / name).mkdir(parents=True, exist_ok=True)
    if SQLITE in systems:
        (work / "sqlite").mkdir(exist_ok=True)
        db = work / "sqlite" / f"{name}.db"
        sqlite_claims.create(db, fixture)
        targets[SQLITE] = {"db": str(db)}
    if JSON in systems:
        (work / "json").mkdir(exist_ok=True)
        path = work / "json" / f"{name}.json"
        json_file_transitions.create(path, fixture)
        targets[JSON] = {"file": str(path)}
    return targets


# -- one window -----------------------------------------------------------------------------------
def run_window(kids: Children, system: str, target: dict[str, Any], rate: float, duration: float, outs: Path
               ) -> list[dict[str, Any]]:
    """Every agent on ``system`` at ``rate`` for ``duration`` s; their figures files, parsed."""
    outs.mkdir(parents=True, exist_ok=True)
    files = []
    for i, child in enumerate(kids.all):
        mine = dict(target)
        if system == SP:
            mine["journal"] = str(Path(target["journals"]) / f"{child.name}.jsonl")
        files.append(outs / f"{system}-{child.name}.json")
        child.send({"op": "prepare", "system": system, "target": mine, "rate": rate, "duration": duration,
                    "out": str(files[i])})
    kids.ask_all(None, PREPARE_TIMEOUT_S)
    kids.ask_all({"op": "start", "t0": time.monotonic() + START_LEAD_S}, START_LEAD_S + duration + DRAIN_ALLOWANCE_S)
    return [json.loads(f.read_text()) for f in files]


def _latency(seconds: list[float]) -> Latency:
    s = LatencySummary.of(seconds)
    return Latency(p50_ms=s.p50_ms, p99_ms=s.p99_ms, max_ms=s.max_ms, count=s.count)


def summarize(system: str, figures: list[dict[str, Any]], rate: float, duration: float, problems: list[str]
              ) -> Window:
    """One window's figures from every agent's file (see the module docstring)."""
    latency = [x for f in figures for x in f["ops"]["latency"]]
    service = [x for f in figures for x in f["ops"]["service"]]
    finish = [d + x for f in figures for d, x in zip(f["ops"]["due"], f["ops"]["latency"], strict=True)]
    # by when they finished: a queue that grows shows as latency that grows through the window
    early = [x for f in figures for d, x in zip(f["ops"]["due"], f["ops"]["latency"], strict=True)
             if d + x < duration / 5]
    late = [x for f in figures for d, x in zip(f["ops"]["due"], f["ops"]["latency"], strict=True)
            if d + x >= duration * 4 / 5]
    drained = [f["drained_at"] for f in figures if f["drained_at"] is not None]
    served = len(latency)
    offered = sum(f["offered"] for f in figures)
    if drained:  # the store ran out: everything served, over the time it took to empty it
        achieved = served / max(finish) if finish else math.nan
    else:  # what finished within the window (the tails of the last cycles run past it)
        achieved = sum(1 for t in finish if t < duration) / duration
    return Window(
        system=system, offered=offered, offered_per_s=rate if offered else 0.0, served=served,
        achieved_per_s=achieved, latency=_latency(latency), service=_latency(service),
        early_p50_ms=median(early) * 1e3 if early else math.nan, late_p50_ms=median(late) * 1e3 if late else math.nan,
        errors=sum(f["errors"] for f in figures), error_samples=[s for f in figures for s in f["error_samples"]][:5],
        lost_leases=sum(f["lost_leases"] for f in figures), skipped=sum(f["skipped"] for f in figures),
        backlog=sum(f["backlog"] for f in figures), oldest_wait_s=max(f["oldest_wait"] for f in figures),
        drained_at_s=min(drained) if drained else None, problems=problems)


def check_peer(system: str, target: dict[str, Any], figures: list[dict[str, Any]]) -> list[str]:
    """The peer's store re-read after its window, against what its agents were told."""
    claimed = [(task, token, f["agent"]) for f in figures for task, token in f["claimed"]]
    done = [(task, token) for f in figures for task, token in f["done"]]
    if system == SQLITE:
        return sqlite_claims.check(target["db"], claimed, done)
    return json_file_transitions.check(target["file"], claimed, done)


def ratios(windows: dict[str, Window]) -> dict[str, dict[str, float | None]]:
    """superplanner / each peer: achieved rate and p99 latency."""
    ours = windows.get(SP)
    out: dict[str, dict[str, float | None]] = {}
    if ours is None:
        return out

    def div(a: float, b: float) -> float | None:
        return a / b if b and not math.isnan(a) and not math.isnan(b) else None

    for peer, theirs in windows.items():
        if peer != SP:
            out[peer] = {"achieved": div(ours.achieved_per_s, theirs.achieved_per_s),
                         "p99": div(ours.latency.p99_ms, theirs.latency.p99_ms)}
    return out


# -- the verification -------------------------------------------------------------------------------
def final_check(home: Path, projects: dict[str, Path]) -> Verification:
    """Every project's raw log against the state table and its agents' journals (``projects``:
    name -> the directory of its journals), in both directions; plus the engine's own check."""
    from planner import Planner

    summaries: list[str] = []
    problems: list[str] = []
    for name, journal_dir in projects.items():
        journals = sorted(journal_dir.glob("*.jsonl"))
        result = audit(home, name, journals)
        found = [f"{name}: {p}" for p in result.problems]
        entries = [e for j in journals for e in read_journal(j)]
        claims = sum(e["what"].startswith("claim ") for e in entries)
        completions = sum(e["what"].startswith("complete ") for e in entries)
        model = result.model
        if model is not None and not result.problems:
            completed = sum(t.state == "completed" for t in model.tasks.values())
            if model.last_token != claims:
                found.append(f"{name}: {model.last_token} leases granted in the log, {claims} claims acknowledged")
            if completed != completions:
                found.append(f"{name}: {completed} tasks completed in the log, {completions} completions acknowledged")
            if model.leases:
                found.append(f"{name}: {len(model.leases)} task(s) still leased, e.g. {sorted(model.leases)[:3]}")
        with Planner.open(home, name, archive_every=0, archive_interval=0) as p:
            if p.graph.derived() != p.graph.recompute():
                found.append(f"{name}: the engine's incremental state differs from a recomputation")
        summaries.append(f"{name}: {result.summary()}; {claims} claims and {completions} completions acknowledged, "
                         f"as many in the log")
        problems += found
    return Verification(ok=not problems, summaries=summaries, problems=problems)


# -- the run -----------------------------------------------------------------------------------------
def run(work: Path, rates: list[float], overload: float, duration: float, agents: int, max_tasks: int,
        peers: list[str], seed: int, archive: bool, say: Callable[[str], None] = print) -> TransitionsReport:
    """Every rate on every system, then :func:`final_check`; the report (printing as it goes)."""
    systems = [SP, *peers]
    steps = [(r, False, duration) for r in rates]
    if overload:
        steps.append((overload, True, min(duration, OVERLOAD_MAX_S)))
    results: list[RateResult] = []
    problems: list[str] = []
    projects: dict[str, Path] = {}
    say(f"stress.transitions (BENCH-003): {agents} agent processes, open-loop schedule, {duration:g} s per rate "
        f"and system; systems: {', '.join(LABELS[s] for s in systems)}; {os.cpu_count()} CPUs; work dir {work}")
    say(TABLE_HEADER)
    with Children(work / "logs") as kids:
        for i in range(agents):
            kids.start(f"agent-{i}", ["stress.transition_agent", "--name", f"agent-{i}", "--index", str(i),
                                      "--agents", str(agents)])
        for step, (rate, over, seconds) in enumerate(steps):
            needed = offered_groups(rate, agents, seconds, 3)
            tasks = min(needed, max_tasks)
            name = project_name(rate, over)
            targets = prepare_stores(work, name, transition_project(tasks, seed), systems, archive)
            projects[name] = Path(targets[SP]["journals"])
            windows: dict[str, Window] = {}
            order = systems[step % len(systems):] + systems[:step % len(systems)]
            for system in order:
                figures = run_window(kids, system, targets[system], rate, seconds, work / "figures" / name)
                found = check_peer(system, targets[system], figures) if system != SP else []
                windows[system] = summarize(system, figures, rate, seconds, found)
                problems += [f"{name} {LABELS[system]}: {p}" for p in found]
            result = RateResult(rate=rate, overload=over, duration_s=seconds, tasks=tasks,
                                windows={s: windows[s] for s in systems},
                                ratios=ratios({s: windows[s] for s in systems}))
            results.append(result)
            say(format_rate(result))
            ours = windows[SP]
            if ours.errors:
                problems.append(f"{name}: the planner made {ours.errors} error(s), e.g. "
                                f"{ours.error_samples[:2]}")
        kids.stop()
    reaped = reap_committers(work / "home")
    if reaped:
        say(f"(waited for {reaped} git archive committer(s) to finish)")
    say("verifying: every raw log re-read and replayed, every journal checked ...")
    began = time.monotonic()
    verification = final_check(work / "home", projects)
    say(f"(verified in {time.monotonic() - began:.0f} s)")
    problems += verification.problems
    return TransitionsReport(
        when=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        machine={"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        agents=agents, duration_s=duration, seed=seed, archive=archive, results=results, verification=verification,
        problems=problems, ok=not problems)


# -- printing ------------------------------------------------------------------------------------------
TABLE_HEADER = ("\nlatency = from the due time (queueing included); service = the command alone; "
                "p50 early/late = transitions finished in the first / last fifth of the window\n"
                f"{'rate/s':>8}  {'system':<12} {'offered/s':>9} {'achieved/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'max ms':>8} {'p50 early/late ms':>19} {'svc p50':>8} {'svc p99':>8} {'errors':>6} {'lost':>4} "
                f"{'backlog':>7}")


def _n(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}" if abs(value) < 10_000 else f"{value:,.0f}"


def format_rate(result: RateResult) -> str:
    lines = []
    for i, (system, w) in enumerate(result.windows.items()):
        rate = (f"{result.rate:g}" + ("!" if result.overload else "")) if i == 0 else ""
        backlog = f"{w.backlog}" + (f" ({w.oldest_wait_s:.1f} s)" if w.backlog else "")
        if w.drained_at_s is not None:
            backlog += f" drained@{w.drained_at_s:.0f}s"
        lines.append(f"{rate:>8}  {LABELS[system]:<12} {_n(w.offered_per_s):>9} {_n(w.achieved_per_s):>10} "
                     f"{_n(w.latency.p50_ms, 2):>8} {_n(w.latency.p99_ms, 2):>8} {_n(w.latency.max_ms, 1):>8} "
                     f"{_n(w.early_p50_ms, 1) + ' / ' + _n(w.late_p50_ms, 1):>19} {_n(w.service.p50_ms, 2):>8} "
                     f"{_n(w.service.p99_ms, 2):>8} {w.errors:>6} {w.lost_leases:>4} {backlog:>7}"
                     + ("  CHECK FAILED" if w.problems else ""))
    for peer, r in result.ratios.items():
        lines.append(f"{'':>8}  ratio superplanner/{LABELS[peer]}: achieved {_x(r['achieved'])}, "
                     f"p99 latency {_x(r['p99'])}")
    return "\n".join(lines)


def _x(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"


def verdict_lines(report: TransitionsReport) -> list[str]:
    """The summary: the spec's criteria at 200/s, the degradation beyond the machine, the verification."""
    lines = []
    at = next((r for r in report.results if r.rate == TARGET_RATE and not r.overload), None)
    if at is not None:
        w = at.windows[SP]
        rate_err = w.errors / w.offered if w.offered else 0.0
        lines.append(f"spec @{TARGET_RATE}/s: achieved {w.achieved_per_s:,.1f}/s of {w.offered_per_s:,.1f} offered, "
                     f"errors {rate_err:.2%} (target < {TARGET_ERRORS:.0%}: {'met' if rate_err < TARGET_ERRORS else 'MISSED'}), "
                     f"service p99 {w.service.p99_ms:.1f} ms and latency p99 {w.latency.p99_ms:.1f} ms "
                     f"(target < {TARGET_SERVICE_MS:g} ms: {'met' if w.latency.p99_ms < TARGET_SERVICE_MS else 'MISSED'})")
    for r in report.results:
        w = r.windows[SP]
        if w.backlog:  # cycles still queued as the window closed: the system could not keep up
            lines.append(f"beyond the machine @{r.rate:g}/s: offered {w.offered_per_s:,.0f}/s, achieved "
                         f"{w.achieved_per_s:,.0f}/s; latency p50 grew from {_n(w.early_p50_ms)} to "
                         f"{_n(w.late_p50_ms)} ms over the window (queueing), backlog {w.backlog} transitions at the "
                         f"end; {w.errors} errors, {w.lost_leases} lost leases"
                         + (" (graceful: queued, not refused)" if not w.errors else ""))
    lines += report.verification.summaries
    status = "OK" if report.verification.ok else f"{len(report.verification.problems)} PROBLEM(S)"
    lines.append(f"verification {status}: {len(report.verification.summaries)} project log(s) audited")
    lines += [f"  PROBLEM: {p}" for p in report.problems]
    return lines


def parse_rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}")
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be positive")
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.transitions", description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=parse_rates, default=list(DEFAULT_RATES),
                        help="transitions per second, all agents together (default 10,50,100,200,500)")
    parser.add_argument("--overload", type=float, default=DEFAULT_OVERLOAD,
                        help=f"one more rate, beyond the machine (default {DEFAULT_OVERLOAD}; 0: none)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate and system (default 60)")
    parser.add_argument("--agents", type=int, default=8, help="agent processes (default 8)")
    parser.add_argument("--tasks", type=int, default=DEFAULT_TASKS,
                        help=f"at most this many tasks per store (default {DEFAULT_TASKS:,})")
    parser.add_argument("--peers", default=f"{SQLITE},{JSON}", help="peers to run beside the planner: sqlite,json "
                                                                     "(default both; '' for none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-archive", action="store_true", help="no git archive commits in the background")
    parser.add_argument("--home", type=Path, help="work here and keep it (default: a temporary directory, removed)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report to FILE as JSON")
    args = parser.parse_args(argv)
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    if any(p not in (SQLITE, JSON) for p in peers) or args.agents < 1 or args.duration <= 0 or args.tasks < 1:
        parser.error("--peers takes sqlite and json; --agents, --duration and --tasks must be positive")
    return run_runner(args.home, "stress-transitions-", lambda work: run(
        work, args.rates, args.overload, args.duration, args.agents, args.tasks, peers, args.seed,
        not args.no_archive), verdict_lines, args.json)


if __name__ == "__main__":
    sys.exit(main())
