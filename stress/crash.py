"""Fault injection: writers killed, torn, refused by a full disk or by permissions; records
damaged and segments deleted; after each fault the planner must open (or ``planner restore``
must recover it), every acknowledged command must be in the log, and the next command works.

``python -m stress.crash [--rounds N] [--writers W] [--seed S] [--home DIR]``

Rounds cycle through the faults (``--faults`` picks some):

* ``kill``: W writer processes (:mod:`stress.crash_writer`) work; each is
  SIGKILLed at a random moment (a timer: fault timing, not synchronisation).
* ``torn``: a writer is killed, then part of a record is appended to the last
  segment with no newline: a write that never finished. The next writer must
  cut it into quarantine.
* ``disk-full``: a writer runs under ``RLIMIT_FSIZE`` a few KB above the last
  segment's size; it must stop with ``DiskFullError``, nothing half-written.
* ``permission``: the log's write bits are taken away (as root, the writer
  runs as ``nobody``); the writer must stop with ``LogPermissionError``.
* ``damage``: the log is archived (``planner commit``), then one byte of an
  archived record in the middle of the log is flipped: writers must refuse
  with ``CorruptLogError``, and ``planner restore`` must bring back everything.
* ``delete-segment``: the same with a whole sealed segment deleted.

After every round: :func:`stress.verify.audit` re-reads the raw log (seqs,
checksums, every transition against the state table, leases) and checks every
writer's journal of acknowledged commands against it; then one more command
through a fresh :class:`planner.Planner` must work and be found in the log.
Exit status 0 when every round held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .verify import Journal, audit

PROJECT = "crash"
FAULTS = ("kill", "torn", "disk-full", "permission", "damage", "delete-segment")
SEGMENT_BYTES = 64 * 1024  # small, so the log has sealed segments to damage and delete
EXPECTED_EXIT = {"disk-full": (3, "DiskFullError"), "permission": (4, "LogPermissionError"),
                 "damage": (5, "CorruptLogError"), "delete-segment": (5, "CorruptLogError")}


@dataclass
class Totals:
    rounds: int = 0
    faults: Counter = field(default_factory=Counter)
    kills: int = 0
    restores: int = 0
    acknowledged: int = 0
    lost: int = 0
    problems: list[str] = field(default_factory=list)


class CrashRunner:
    """The rounds of the module docstring, on one project under ``home``."""

    def __init__(self, home: Path, writers: int, seed: int, say=print):
        self.home, self.writers, self.rng, self.say = home, writers, random.Random(seed), say
        self.journals = home / "journals"
        self.journals.mkdir(parents=True, exist_ok=True)
        self.totals = Totals()
        self.round = 0

    @property
    def log_dir(self) -> Path:
        return self.home / "projects" / PROJECT / "log"

    def setup(self, tasks: int = 40) -> None:
        from planner import Planner

        with Planner.open(self.home, PROJECT, create=True, lease_ttl=5.0, segment_bytes=SEGMENT_BYTES) as p:
            p.set_mode("working")
            journal = Journal(self.journals / "setup.jsonl")
            for i in range(tasks):
                c = uuid.uuid4().hex
                p.add_task(f"task {i}", id=f"s{i}", command_id=c)
                journal.ack(c, f"add s{i}", [{"type": "task.added", "id": f"s{i}"}])
            journal.close()

    # -- writers ---------------------------------------------------------------------
    def writer(self, name: str, ops: int = 1_000_000, extra: tuple[str, ...] = (), journal_mode: int | None = None):
        journal = self.journals / f"r{self.round:03d}-{name}.jsonl"
        if journal_mode is not None:  # (a writer that drops privileges must still write its journal)
            journal.touch()
            os.chmod(journal, journal_mode)
        cmd = [sys.executable, "-m", "stress.crash_writer", str(self.home), PROJECT, "--agent",
               f"r{self.round}-{name}", "--journal", str(journal), "--ops", str(ops),
               "--seed", str(self.rng.randrange(1 << 30)), *extra]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                cwd=Path(__file__).resolve().parent.parent)

    def kill_after_a_while(self, procs: list[subprocess.Popen], low: float = 0.3, high: float = 1.2) -> None:
        """SIGKILL each writer at a random moment (its own timer), then reap them all."""
        deadline = {p.pid: time.monotonic() + self.rng.uniform(low, high) for p in procs}
        for p in sorted(procs, key=lambda p: deadline[p.pid]):
            time.sleep(max(0.0, deadline[p.pid] - time.monotonic()))  # when to strike (fault timing)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                self.totals.kills += 1
        for p in procs:
            p.wait()
            self.expect_died(p)

    def work(self, ops: int) -> None:
        """One writer doing ``ops`` operations to the end."""
        p = self.writer("w0", ops=ops)
        p.wait()
        self.expect_died(p)

    def expect_died(self, p: subprocess.Popen) -> None:
        err = p.stderr.read() if p.stderr else ""
        if p.returncode not in (0, -signal.SIGKILL):
            self.problem(f"a writer failed with status {p.returncode}: {err.strip()[-500:]}")

    def expect_refusal(self, p: subprocess.Popen, fault: str) -> None:
        _, err = p.communicate()
        code, name = EXPECTED_EXIT[fault]
        if p.returncode != code or name not in err:
            self.problem(f"{fault}: expected exit {code} with {name}, got {p.returncode}: {err.strip()[-500:]}")
        else:
            self.say(f"    the writer stopped with: {err.strip().splitlines()[-1][:160]}")

    def problem(self, text: str) -> None:
        self.totals.problems.append(f"round {self.round}: {text}")
        self.say(f"    PROBLEM: {text}")

    # -- faults ------------------------------------------------------------------------
    def fault_kill(self) -> None:
        self.kill_after_a_while([self.writer(f"w{k}") for k in range(self.writers)])

    def fault_torn(self) -> None:
        self.kill_after_a_while([self.writer("w0")], 0.2, 0.6)
        segment = max(self.log_dir.glob("*.jsonl"))
        partial = b'{"seq":' + str(10**9).encode() + b',"id":"torn","type":"task.added","ts":"2026-11-28T0'
        with open(segment, "ab") as f:
            f.write(partial[: self.rng.randrange(1, len(partial))])

    def fault_disk_full(self) -> None:
        segment = max(self.log_dir.glob("*.jsonl"))
        # the limit binds every file the writer writes, its journal too: at least 32 KiB, so
        # that the log (growing 3-5x faster than the journal) reaches it first
        limit = max(segment.stat().st_size, 32 * 1024) + self.rng.randrange(1024, 8192)
        self.expect_refusal(self.writer("full", extra=("--fsize-limit", str(limit))), "disk-full")

    def fault_permission(self) -> None:
        root = os.geteuid() == 0
        paths = [self.home / "projects", *(self.home / "projects").rglob("*")]
        modes = {p: p.stat().st_mode & 0o7777 for p in paths}
        try:
            for p in paths:  # as root: readable by nobody, writable only by root; else: read-only for us
                os.chmod(p, (0o755 if root else 0o555) if p.is_dir() else (0o644 if root else 0o444))
            os.chmod(self.home, 0o755)
            os.chmod(self.journals, 0o777)
            self.expect_refusal(self.writer("nobody", extra=("--unprivileged",), journal_mode=0o666), "permission")
        finally:
            for p, mode in modes.items():
                os.chmod(p, mode)

    def archive(self) -> None:
        from planner import Planner

        with Planner.open(self.home, PROJECT) as p:
            p.archive(force=True)

    def fault_damage(self) -> None:
        self.archive()
        self.work(10)  # records after the archive point, for restore to salvage
        sealed = sorted(self.log_dir.glob("*.jsonl"))[:-1]
        segment = self.rng.choice(sealed) if sealed else max(self.log_dir.glob("*.jsonl"))
        data = bytearray(segment.read_bytes())
        lines = data.split(b"\n")
        i = self.rng.randrange(max(len(lines) - 2, 1))
        offset = sum(len(line) + 1 for line in lines[:i]) + len(lines[i]) // 2
        data[offset] ^= 0x01
        segment.write_bytes(bytes(data))
        self.say(f"    flipped a bit of {segment.name} at byte {offset} (record {i + 1} of the segment)")
        self.expect_refusal(self.writer("after-damage", ops=5), "damage")
        self.restore()

    def fault_delete_segment(self) -> None:
        self.archive()
        self.work(10)
        segments = sorted(self.log_dir.glob("*.jsonl"))
        if len(segments) < 3:
            self.say("    (fewer than 3 segments: deleting the first sealed one)")
        victim = segments[len(segments) // 2 - 1] if len(segments) >= 2 else segments[0]
        victim.unlink()
        self.say(f"    deleted {victim.name}")
        if len(segments) >= 2 and victim != segments[0]:
            self.expect_refusal(self.writer("after-delete", ops=5), "delete-segment")
        self.restore()

    def restore(self) -> None:
        cli = [sys.executable, "-m", "planner", "--home", str(self.home), "--project", PROJECT, "restore"]
        done = subprocess.run(cli, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
        self.totals.restores += 1
        if done.returncode != 0:
            self.problem(f"planner restore failed ({done.returncode}): {(done.stdout + done.stderr)[-800:]}")
        else:
            self.say("    planner restore: " + " / ".join(line.strip() for line in done.stdout.splitlines()[:3]))

    # -- the rounds --------------------------------------------------------------------
    def check(self) -> None:
        """The planner opens, the raw log verifies, every acknowledged command is there,
        and the next command works."""
        from planner import Planner

        try:
            with Planner.open(self.home, PROJECT) as p:
                c, task = uuid.uuid4().hex, f"after-round-{self.round}"
                p.add_task("the next command, once the fault is gone", id=task, command_id=c)
            journal = Journal(self.journals / f"r{self.round:03d}-check.jsonl")
            journal.ack(c, f"add {task}", [{"type": "task.added", "id": task}])
            journal.close()
        except Exception as exc:
            self.problem(f"the next command failed: {type(exc).__name__}: {exc}")
        result = audit(self.home, PROJECT, sorted(self.journals.glob("*.jsonl")))
        self.totals.acknowledged = result.acknowledged
        self.totals.lost = sum("LOST" in p for p in result.problems)
        for text in result.problems:
            self.problem(text)
        self.say(f"    {result.summary()}")

    def run(self, rounds: int, faults: tuple[str, ...] = FAULTS) -> Totals:
        self.setup()
        for self.round in range(1, rounds + 1):
            fault = faults[(self.round - 1) % len(faults)]
            self.say(f"round {self.round}/{rounds}: {fault}")
            getattr(self, "fault_" + fault.replace("-", "_"))()
            self.totals.faults[fault] += 1
            self.totals.rounds += 1
            self.check()
        return self.totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.crash", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=24, help="rounds (default 24: each fault 4 times)")
    parser.add_argument("--writers", type=int, default=4, help="writer processes in a kill round (default 4)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, from {', '.join(FAULTS)}")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--home", type=Path, help="work here and keep it (default: a temporary directory, removed)")
    args = parser.parse_args(argv)
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or args.rounds < 1 or args.writers < 1:
        parser.error(f"unknown faults {unknown}" if unknown else "--rounds and --writers must be >= 1")
    home = args.home or Path(tempfile.mkdtemp(prefix="stress-crash-"))
    print(f"stress.crash: {args.rounds} rounds of {', '.join(faults)}; {args.writers} writers; seed {args.seed}; "
          f"home {home}")
    started = time.monotonic()
    try:
        totals = CrashRunner(home, args.writers, args.seed).run(args.rounds, faults)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    faults_done = ", ".join(f"{n} {f}" for f, n in totals.faults.items())
    print(f"\n{totals.rounds} rounds in {time.monotonic() - started:.0f} s: {faults_done}; {totals.kills} writers "
          f"SIGKILLed, {totals.restores} restores; {totals.acknowledged} acknowledged commands checked, "
          f"{totals.lost} lost; {len(totals.problems)} problem(s)")
    for text in totals.problems:
        print(f"  {text}")
    return 1 if totals.problems else 0


if __name__ == "__main__":
    sys.exit(main())
