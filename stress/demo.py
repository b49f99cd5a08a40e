"""The demo: a project worked by agents that crash, and a log that survives it.

``python -m stress.demo [--home DIR] [--agents 4] [--writers 8] [--steps 200]``

1. The plan: ``fixtures/complex_microservices_platform.json`` is imported (its
   expected outcomes checked), analysed (critical path, levels), and one task is
   broken down by the example decomposer.
2. Agents at work: ``planner work --simulate`` starts N agent processes under a
   supervisor; they claim tasks under leases, checkpoint half way and finish.
   One of them is killed with SIGKILL in the middle of a task: its lease ends,
   and another agent resumes the task from its checkpoint. Progress is shown
   live, from the log, as it lands.
3. Checked: every task completed, no task ever held by two agents (re-reading
   the log), the resume happened, and ``planner replay --verify`` agrees.
4. The log underneath, under stress: N writer processes run read-decide-append
   steps at once (no lost update), a writer is killed with SIGKILL and a torn
   record left at the tail (cut into quarantine by the next writer), and a
   follower receives another process's appends live.

Exits non-zero if any check fails. Everything goes through the public API and
the command line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eventstore import EventLog


def _writer(path: Path, worker: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stress.log_writer", str(path), "--worker", worker, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _acks(text: str) -> dict[str, tuple[int, int]]:
    acks = {}
    for line in text.splitlines():
        if line.startswith("ack "):
            _, key, first, last = line.split()
            acks[key] = (int(first), int(last))
    return acks


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def __call__(self, ok: bool, what: str) -> None:
        print(f"  [{'ok' if ok else 'FAILED'}] {what}")
        self.failed += not ok


def run(home: Path, writers: int, steps: int, agents: int = 4) -> int:
    check = Checks()
    start = time.perf_counter()
    _plan_part(home, check)
    _agents_part(home, agents, check)
    _log_part(home, writers, steps, check)
    print(f"\n{'all checks passed' if not check.failed else f'{check.failed} check(s) FAILED'} "
          f"in {time.perf_counter() - start:.1f} s")
    return 1 if check.failed else 0


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "--project", PROJECT, *args],
                          capture_output=True, text=True, timeout=300)


PROJECT = "platform"
LONG_TASK = "obs-metrics.implement"  # 40 h: 1.6 s at the demo's time scale, 0.8 s left at its checkpoint


def _plan_part(home: Path, check: Checks) -> None:
    import fixtures
    from planner import Planner
    from planner.plans.importing import import_plan, read_plan
    from planner.plans.planning import decompose

    fixture = Path(fixtures.__file__).parent / "complex_microservices_platform.json"
    print(f"1. the plan: {fixture.name} imported, analysed, one task broken down")
    with Planner.open(home / "planner", PROJECT, create=True) as p:
        report = import_plan(p, read_plan(fixture))
        outcomes = report["expected_outcomes"]
        check(not outcomes["mismatched"] and report["imported"] == 22,
              f"imported {report['imported']} tasks; the file's expected outcomes all match "
              f"({', '.join(outcomes['matched'])})")
        analysis = p.analysis()
        print(f"  critical path ({analysis['critical_path_effort']:g} h): {' -> '.join(analysis['critical_path'])}")
        added = decompose(p, "obs-metrics", f"{sys.executable} -m planner.plans.example_decomposer")
        check(added == ["obs-metrics.design", "obs-metrics.implement", "obs-metrics.test"],
              f"obs-metrics broken down by the example decomposer into {', '.join(added)}")
        p.edit_task("obs-metrics.implement", effort=40)  # the long one: its agent is killed half way
        p.set_mode("working")
        leaves = p.stats()["leaves_by_state"]["pending"]
    print(f"  {leaves} tasks to do; the project switches to working mode")


def _agents_part(home: Path, agents: int, check: Checks) -> None:
    import threading

    from planner import Planner
    from planner.domain.events import parse_event

    print(f"\n2. agents at work: `planner work --agents {agents} --simulate`; one is killed mid-task")
    work = subprocess.Popen(
        [sys.executable, "-m", "planner", "--home", str(home / "planner"), "--project", PROJECT, "work", "--json",
         "--agents", str(agents), "--simulate", "--until-idle", "--time-scale", "0.04", "--refresh", "0.2",
         "--backoff", "60", "--seed", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids: dict[str, int] = {}
    started = threading.Event()

    def read_happenings() -> None:  # the supervisor's stderr: one JSON line per happening
        for line in work.stderr:
            if line.startswith("{"):
                happening = json.loads(line)
                if happening["event"] == "started":
                    pids[happening["agent"]] = happening["pid"]
                    if len(pids) == agents:
                        started.set()

    reader = threading.Thread(target=read_happenings, daemon=True)
    reader.start()
    finished = threading.Event()
    threading.Thread(target=lambda: (work.wait(), finished.set()), daemon=True).start()
    victim = resumed_by = None
    done = 0
    with Planner.open(home / "planner", PROJECT) as p:
        total = p.stats()["leaves_by_state"]["pending"]
        for record in p.log.follow(p.log.last_seq + 1, timeout=120, stop_event=finished):
            data = record.data
            if (record.type == "task.checkpointed" and data["id"] == LONG_TASK and victim is None
                    and started.wait(30)):
                victim = data["by"]
                os.kill(pids[victim], signal.SIGKILL)  # half way through its task
                print(f"  !! killed {victim} (pid {pids[victim]}) half way through {data['id']}")
                killed_task = data["id"]
            elif record.type == "task.assigned" and victim is not None and data["id"] == killed_task:
                resumed_by = data["agent"]
                print(f"  -> {killed_task} taken over by {resumed_by} (attempt {data['attempt']}), "
                      "from the checkpoint")
            elif record.type == "task.state_changed" and data["to_state"] == "completed":
                done += 1
                bar = "#" * (20 * done // total)
                print(f"  [{bar:<20}] {done:>2}/{total}  {data['id']} completed by {data.get('by')}")
    summary = json.loads(work.stdout.read() or "{}")
    work.wait()
    reader.join(5)
    check(work.returncode == 0, f"the supervisor finished cleanly (exit {work.returncode})")
    check(summary.get("tasks") == {"completed": total}, f"all {total} tasks completed: {summary.get('tasks')}")
    check(victim is not None and resumed_by not in (None, victim),
          f"the task {victim} was killed in the middle of was resumed by {resumed_by}")

    print("\n3. checked from the log, independently of the agents")
    live: dict[str, int] = {}
    last_token, double = 0, []
    with Planner.open(home / "planner", PROJECT) as p:
        for record in p.log.read():
            event = parse_event(record.type, record.data)
            if event.type == "task.assigned":
                if event.id in live or event.token <= last_token:
                    double.append(record.seq)
                live[event.id], last_token = event.token, event.token
            elif event.type in ("lease.released", "lease.expired") and live.pop(event.id, None) != event.token:
                double.append(record.seq)  # only the holder's token ends a lease
        agents_seen = sorted(a["id"] for a in p.agents())
    check(not double and not live,
          f"no task ever held by two agents; fencing tokens only grew (1..{last_token}); every lease ended "
          "with its own token")
    verify = _cli(home / "planner", "replay", "--verify")
    check(verify.returncode == 0, "planner replay --verify: " + (verify.stdout.strip() or verify.stderr.strip()))
    print(f"  agents: {', '.join(agents_seen)}")


def _log_part(home: Path, writers: int, steps: int, check: Checks) -> None:
    path = home / "demo-log"
    EventLog.open(path, create=True).close()
    print(f"\n4. the log underneath, under stress: {path}")

    print(f"  4a. {writers} processes x {steps} durable read-decide-append steps, all at once")
    start = time.perf_counter()
    procs = [_writer(path, f"w{i}", "--mode", "tx", "--count", str(steps)) for i in range(writers)]
    acks: dict[str, tuple[int, int]] = {}
    errors = []
    for proc in procs:
        out, err = proc.communicate()
        acks.update(_acks(out))
        if proc.returncode:
            errors.append(err.strip().splitlines()[-1:])
    check(not errors, f"all {writers} writers exited cleanly" + (f": {errors}" if errors else ""))
    elapsed = time.perf_counter() - start
    total = writers * steps
    print(f"  {len(acks)} appends acknowledged in {elapsed:.2f}s, process start-up included "
          f"({len(acks) / elapsed:.0f}/s)")

    print("  4b. replay from disk and verify")
    with EventLog.open(path) as log:
        records = list(log.read())
        report = log.verify()
    check(report.ok, f"verify: {report.segments} segment(s), {report.valid_records} records, no problems")
    check([r.seq for r in records] == list(range(1, total + 1)), f"seq contiguous 1..{total}")
    check([r.data["n"] for r in records] == list(range(1, total + 1)),
          "no lost update: the shared counter runs 1..total, each step saw every step before it")
    placed = {r.cmd: r.seq for r in records}
    check(all(placed.get(k) == first for k, (first, _) in acks.items()) and len(acks) == total,
          "every acknowledged append is in the log exactly where its writer was told")

    print("  4c. crash: kill -9 a writer mid-run, then leave a torn record at the tail")
    proc = _writer(path, "victim", "--mode", "tx", "--count", "0")
    seen = "".join(proc.stdout.readline() for _ in range(25))  # let it acknowledge some, then kill it
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    acks.update(_acks(seen + out))
    segment = sorted((path / "log").glob("*.jsonl"))[-1]
    with open(segment, "ab") as f:
        f.write(b'{"seq":999999,"id":"half-writ')  # what a write cut short leaves
    logging.getLogger("eventstore").addHandler(logging.NullHandler())  # (its warning: said below, in our words)
    with EventLog.open(path) as log:
        print(f"  before: verify says {[p.kind for p in log.verify().problems]}")
        log.append([{"type": "demo.after-crash", "data": {}}])
        for cut in log.recovered:
            print(f"  the next writer cut {cut.bytes} torn bytes at {Path(cut.file).name}:{cut.offset} "
                  f"({cut.reason}); kept in quarantine/{Path(cut.quarantined_to).name}")
        check(len(log.recovered) == 1, "the torn tail was cut and kept, not silently dropped")
        check(log.verify().ok, "the log verifies clean again")
        present = {r.cmd: r.seq for r in log.read()}
        check(all(present.get(k) == first for k, (first, _) in acks.items()),
              f"all {len(acks)} acknowledged appends survived the kill")
        last = log.last_seq

    print("  4d. follow: records appended by another process arrive as they are written")
    with EventLog.open(path) as log:
        follower = log.follow(last + 1, timeout=30)
        proc = _writer(path, "late", "--mode", "plain", "--count", "5")
        got = [next(follower) for _ in range(5)]
        follower.close()
        proc.communicate()
    check([r.cmd for r in got] == [f"late-{i}" for i in range(5)], "the follower saw all 5, in order")




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="where to put the demo log (default: a temp dir, removed after)")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    if args.home:
        args.home.mkdir(parents=True, exist_ok=True)
        return run(args.home, args.writers, args.steps, args.agents)
    home = Path(tempfile.mkdtemp(prefix="superplanner-demo-"))
    try:
        return run(home, args.writers, args.steps, args.agents)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
