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

    print(f"\n{'all checks passed' if not check.failed else f'{check.failed} check(s) FAILED'}")
    return 1 if check.failed else 0


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
