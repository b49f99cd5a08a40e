"""The demo: many processes share one durable log, and it survives a crash.

``python -m stress.demo [--home DIR] [--writers 8] [--steps 200]``

1. N writer processes run read-decide-append steps on one log at once
   (each folds what the others wrote into a counter and appends counter+1).
2. The log is replayed from disk and checked: seq contiguous, checksums
   valid, no lost update (the counter runs 1..total), every acknowledged
   append present exactly once.
3. A writer is killed with SIGKILL mid-run and a torn record is left at the
   tail; the next writer cuts it off into quarantine and carries on.
4. A follower in this process receives records appended by another process.
5. The planner on top of it: a fixture project is imported (its expected
   outcomes checked), analysed (critical path, levels), a task is broken
   down by the example decomposer, and N processes add and complete tasks
   at once; generated ids never collide, every acknowledged command is in
   the log, and a full replay equals the live state.

Exits non-zero if any check fails. Everything goes through the public API.
"""

from __future__ import annotations

import argparse
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


def run(home: Path, writers: int, steps: int) -> int:
    check = Checks()
    path = home / "demo-log"
    EventLog.open(path, create=True).close()
    print(f"log: {path}\n")

    print(f"1. {writers} processes x {steps} durable read-decide-append steps, all at once")
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

    print("\n2. replay from disk and verify")
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

    print("\n3. crash: kill -9 a writer mid-run, then leave a torn record at the tail")
    proc = _writer(path, "victim", "--mode", "tx", "--count", "0")
    seen = "".join(proc.stdout.readline() for _ in range(25))  # let it acknowledge some, then kill it
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    acks.update(_acks(seen + out))
    segment = sorted((path / "log").glob("*.jsonl"))[-1]
    with open(segment, "ab") as f:
        f.write(b'{"seq":999999,"id":"half-writ')  # what a write cut short leaves
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

    print("\n4. follow: records appended by another process arrive as they are written")
    with EventLog.open(path) as log:
        follower = log.follow(last + 1, timeout=30)
        proc = _writer(path, "late", "--mode", "plain", "--count", "5")
        got = [next(follower) for _ in range(5)]
        follower.close()
        proc.communicate()
    check([r.cmd for r in got] == [f"late-{i}" for i in range(5)], "the follower saw all 5, in order")

    _planner_part(home, writers, check)

    print(f"\n{'all checks passed' if not check.failed else f'{check.failed} check(s) FAILED'}")
    return 1 if check.failed else 0


def _planner_part(home: Path, writers: int, check: Checks) -> None:
    import fixtures
    from planner import Planner
    from planner.events import parse_event
    from planner.importing import import_plan, read_plan
    from planner.planning import decompose
    from projections.graph import TaskGraph

    fixture = Path(fixtures.__file__).parent / "complex_microservices_platform.json"
    planner_home = home / "planner"
    print(f"\n5. the planner: import {fixture.name}, analyse, plan, and {writers} processes at once")
    with Planner.open(planner_home, "platform", create=True) as p:
        report = import_plan(p, read_plan(fixture))
        outcomes = report["expected_outcomes"]
        check(not outcomes["mismatched"] and report["imported"] == 22,
              f"imported {report['imported']} tasks; the file's expected outcomes all match "
              f"({', '.join(outcomes['matched'])})")
        analysis = p.analysis()
        print(f"  critical path ({analysis['critical_path_effort']:g} h): {' -> '.join(analysis['critical_path'])}")
        print(f"  {len(analysis['levels'])} levels; ready now, best first: {', '.join(p.ready(5))}")
        added = decompose(p, "web-checkout", f"{sys.executable} -m planner.example_decomposer")
        check(added == ["web-checkout.design", "web-checkout.implement", "web-checkout.test"],
              f"web-checkout broken down by the example decomposer into {', '.join(added)}")
    procs = [subprocess.Popen([sys.executable, "-m", "stress.planner_writer", str(planner_home), "platform",
                               "--worker", f"agent{i}", "--count", "15"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(writers)]
    acked_adds, acked_done, errors = [], [], []
    for proc in procs:
        out, err = proc.communicate()
        acked_adds += [line.split()[1] for line in out.splitlines() if line.startswith("added ")]
        acked_done += [line.split()[1] for line in out.splitlines() if line.startswith("done ")]
        if proc.returncode:
            errors.append(err.strip().splitlines()[-1:])
    check(not errors, f"{writers} processes added and completed 15 tasks each" + (f": {errors}" if errors else ""))
    check(len(set(acked_adds)) == len(acked_adds) == writers * 15,
          f"{len(acked_adds)} generated ids, all distinct, though {writers} processes drew them at once")
    with Planner.open(planner_home, "platform") as p:
        check(all(p.task(t)["state"] == "completed" for t in acked_done) and len(acked_done) == writers * 15,
              "every acknowledged completion is in the log")
        replay = TaskGraph()
        for record in p.log.read():
            replay.apply(record.seq, parse_event(record.type, record.data))
        check(replay.derived() == p.graph.derived() == p.graph.recompute(),
              f"full replay of {replay.seq} events == the live state == a recomputation")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="where to put the demo log (default: a temp dir, removed after)")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    if args.home:
        args.home.mkdir(parents=True, exist_ok=True)
        return run(args.home, args.writers, args.steps)
    home = Path(tempfile.mkdtemp(prefix="superplanner-demo-"))
    try:
        return run(home, args.writers, args.steps)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
