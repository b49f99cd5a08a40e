"""N real agent processes, supervised, working a generated project while they are SIGKILLed at
random; then an independent verification of everything they were told.

``python -m stress.agents [--agents 20] [--tasks 1000] [--duration 60] [--kills-per-minute 30]
[--seed S] [--home DIR]``

What runs: ``planner work --simulate --agents N --journal-dir DIR`` (the
supervisor of :mod:`planner.agents.supervisor` and its workers, exactly as users run
them) on a ``generate_complex_project(M)`` plan (dependencies, a hierarchy,
capabilities), with leases of 10 s. Each worker journals every command the
planner acknowledged (:mod:`planner.engine.journal`). This runner SIGKILLs a random
worker at random moments (exponential gaps at ``--kills-per-minute``); the
supervisor notices, hands the dead worker's tasks on with their checkpoints,
and restarts it. The run ends when the project is done (``--until-idle``) or
after ``--duration`` seconds (SIGTERM to the supervisor).

Then :func:`stress.verify.audit`: the raw log re-read (seqs, checksums), every
event replayed against the state table and the lease rules (no task ever has
two live leases, no task starts before its dependencies are done), every
journaled command found in the log as the agent was told; plus the engine's
own check that its incremental state equals a recomputation. Exit status 0
when all of that held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from .verify import audit

PROJECT = "agents"
LEASE_TTL = 10.0
ROOT = Path(__file__).resolve().parent.parent


def prepare(home: Path, tasks: int, seed: int) -> None:
    from fixtures.generators import generate_complex_project
    from planner import Planner
    from planner.plans.importing import import_plan, read_fixture

    plan = generate_complex_project(tasks, seed=seed).to_dict()
    with Planner.open(home, PROJECT, create=True, lease_ttl=LEASE_TTL, max_attempts=1000) as p:
        import_plan(p, read_fixture(plan, f"generated-{tasks}.json"))
        p.set_mode("working")
        p.snapshot()


def start_supervisor(home: Path, journals: Path, agents: int, seed: int, time_scale: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "planner", "--home", str(home), "--project", PROJECT, "--json", "work",
           "--agents", str(agents), "--simulate", "--until-idle", "--journal-dir", str(journals),
           "--max-restarts", "100000", "--backoff", "0.05", "--time-scale", str(time_scale), "--seed", str(seed)]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def workers_of(supervisor: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(supervisor.pid).children()
    except psutil.NoSuchProcess:
        return []


def run(home: Path, agents: int, tasks: int, duration: float, kills_per_minute: float, seed: int,
        time_scale: float, say=print) -> dict:
    rng = random.Random(seed)
    journals = home / "journals"
    started = time.monotonic()
    prepare(home, tasks, seed)
    say(f"  project: {tasks} tasks imported in {time.monotonic() - started:.1f} s")
    sup = start_supervisor(home, journals, agents, seed, time_scale)
    kills, started = 0, time.monotonic()
    deadline = started + duration
    next_kill = started + (rng.expovariate(kills_per_minute / 60) if kills_per_minute > 0 else float("inf"))
    try:
        while sup.poll() is None and time.monotonic() < deadline:
            # the next fault is due at next_kill; the supervisor may finish first (fault timing, not a sync)
            try:
                sup.wait(timeout=max(0.0, min(next_kill, deadline) - time.monotonic()))
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() >= next_kill:
                victims = workers_of(sup)
                if victims:
                    victim = rng.choice(victims)
                    try:
                        victim.send_signal(signal.SIGKILL)
                        kills += 1
                    except psutil.NoSuchProcess:
                        pass
                next_kill = time.monotonic() + rng.expovariate(kills_per_minute / 60)
        stopped_by = "idle" if sup.poll() is not None else "duration"
        if sup.poll() is None:
            sup.send_signal(signal.SIGTERM)  # a clean stop: workers deregister, their tasks go back
        out, err = sup.communicate(timeout=120)
    finally:
        if sup.poll() is None:
            os.killpg(sup.pid, signal.SIGKILL)
            sup.wait()
    seconds = time.monotonic() - started
    try:
        summary = json.loads(out)
    except ValueError:
        summary = {"problems": [f"the supervisor printed no summary (exit {sup.returncode}): {err[-1500:]}"]}
    result = audit(home, PROJECT, sorted(journals.glob("*.jsonl")))
    from planner import Planner

    with Planner.open(home, PROJECT) as p:
        consistent = p.graph.derived() == p.graph.recompute()
        by_state = p.stats()["leaves_by_state"]
    problems = list(result.problems) + [f"supervisor: {x}" for x in summary.get("problems", [])
                                        if stopped_by == "idle"]
    if not consistent:
        problems.append("the engine's incremental state differs from a recomputation")
    crashes = sum(w.get("crashes", 0) for w in summary.get("workers", []))
    starts = sum(w.get("starts", 0) for w in summary.get("workers", []))
    return {"agents": agents, "tasks": tasks, "seconds": round(seconds, 1), "stopped_by": stopped_by,
            "kills": kills, "crashes_seen_by_supervisor": crashes, "worker_starts": starts,
            "completed": by_state.get("completed", 0), "leaves": sum(by_state.values()), "leaves_by_state": by_state, "records": result.records,
            "acknowledged": result.acknowledged, "lost": sum("LOST" in p for p in result.problems),
            "verification": result.summary(), "problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.agents", description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds at most (default 60)")
    parser.add_argument("--kills-per-minute", type=float, default=30.0)
    parser.add_argument("--time-scale", type=float, default=0.25,
                        help="simulated seconds of work per effort hour (default 0.25: about a minute of work "
                             "for 1,000 tasks and 20 agents)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--home", type=Path, help="work here and keep it (default: a temporary directory)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    if args.agents < 1 or args.tasks < 1 or args.duration <= 0 or args.kills_per_minute < 0:
        parser.error("--agents and --tasks must be >= 1, --duration > 0, --kills-per-minute >= 0")
    home = args.home or Path(tempfile.mkdtemp(prefix="stress-agents-"))
    print(f"stress.agents: {args.agents} agents, {args.tasks} tasks, up to {args.duration:.0f} s, "
          f"{args.kills_per_minute:g} kills/min; seed {args.seed}; home {home}")
    try:
        r = run(home, args.agents, args.tasks, args.duration, args.kills_per_minute, args.seed, args.time_scale)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    print(f"  {r['seconds']} s (stopped: {r['stopped_by']}); {r['completed']} of {r['leaves']} leaf tasks completed; "
          f"{r['kills']} workers SIGKILLed, {r['crashes_seen_by_supervisor']} crashes seen and "
          f"{r['worker_starts']} worker starts by the supervisor")
    print(f"  {r['verification']}")
    print(f"  {r['acknowledged']} acknowledged commands checked, {r['lost']} lost; {len(r['problems'])} problem(s)")
    for text in r["problems"]:
        print(f"    {text}")
    if args.json is not None:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
    return 1 if r["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
