"""One writer process for the stress runners: an agent doing real work through the public API,
journaling every command the planner acknowledged (:class:`stress.verify.Journal`).

``python -m stress.crash_writer HOME PROJECT --agent NAME --journal FILE [--ops N] [--seed S]
[--fsize-limit BYTES] [--unprivileged]``

Each operation is one of: add a task; or claim the best ready task, start it,
checkpoint it and complete it. Every command carries a fresh ``command_id``;
the journal line is written after the planner returns, so it lists exactly the
commands that were acknowledged, with what the planner said (task, token,
state) for the verification to find in the log.

``--fsize-limit`` sets ``RLIMIT_FSIZE`` (the file-size limit: a full disk as
the writer sees it) and ignores ``SIGXFSZ``, so a write past it fails with
EFBIG instead of killing the process. ``--unprivileged`` drops to ``nobody``
first when run as root (root ignores file modes).

Exit status: 0 after ``--ops`` operations; 3 on a full disk (``DiskFullError``),
4 on ``LogPermissionError``, 5 on ``CorruptLogError``, each with the error's
one-line message on stderr; 70 on anything else.
"""

from __future__ import annotations

import argparse
import errno
import os
import random
import resource
import signal
import sys
import uuid
from pathlib import Path

EXIT_FULL, EXIT_PERMISSION, EXIT_CORRUPT, EXIT_ERROR = 3, 4, 5, 70


def run(home: str, project: str, agent: str, journal_path: Path, ops: int, seed: int) -> None:
    from planner import DomainError, Planner

    from .verify import Journal

    rng = random.Random(seed)
    journal = Journal(journal_path)
    planner = Planner.open(home, project)

    def cmd() -> str:
        return uuid.uuid4().hex

    try:
        c = cmd()
        planner.register_agent(agent, command_id=c)
        journal.ack(c, f"register {agent}")
        for _ in range(ops):
            if rng.random() < 0.25:
                c, task = cmd(), f"{agent}-{uuid.uuid4().hex[:8]}"
                planner.add_task(f"added by {agent}", id=task, priority=rng.choice(["low", "medium", "high"]),
                                 command_id=c)
                journal.ack(c, f"add {task}", [{"type": "task.added", "id": task}])
                continue
            c = cmd()
            lease = planner.claim(agent, command_id=c)
            if lease is None:
                continue  # nothing ready: the command wrote nothing, so there is nothing to journal
            task, token = lease.id, lease.token
            journal.ack(c, f"claim {task}", [{"type": "task.assigned", "id": task, "agent": agent, "token": token}])
            try:
                c = cmd()
                planner.transition(task, "in_progress", token=token, command_id=c)
                journal.ack(c, f"start {task}", [{"type": "task.state_changed", "id": task,
                                                  "to_state": "in_progress"}])
                c, notes = cmd(), f"half done by {agent}"
                planner.checkpoint(task, notes=notes, token=token, command_id=c)
                journal.ack(c, f"checkpoint {task}", [{"type": "task.checkpointed", "id": task, "notes": notes}])
                c = cmd()
                planner.transition(task, "completed", token=token, command_id=c)
                journal.ack(c, f"complete {task}", [{"type": "task.state_changed", "id": task,
                                                     "to_state": "completed"},
                                                    {"type": "lease.released", "id": task, "token": token}])
            except DomainError:
                pass  # the lease expired under us (a slow machine): the task is someone else's now
    finally:
        journal.close()
        planner.close()


def _warm_up() -> None:
    """Run every kind of command once, on a scratch project, while still privileged: once
    privileges are dropped, neither the interpreter's library (a Python under /root) nor a
    checkout in a private directory may be readable, and the planner imports some modules
    on first use."""
    import tempfile

    from planner import Planner

    with tempfile.TemporaryDirectory(prefix="warm-up-") as home:
        with Planner.open(home, "warm", create=True, durability="none") as p:
            p.set_mode("working")
            p.add_task("warm-up", id="w")
        run(home, "warm", "warm-up", Path(home) / "journal.jsonl", ops=0, seed=0)
        with Planner.open(home, "warm", journal=Path(home) / "journal.jsonl") as p:
            lease = p.claim("warm-up")
            p.transition("w", "in_progress", token=lease.token)
            p.checkpoint("w", notes="warm", token=lease.token)
            p.transition("w", "completed", token=lease.token)
            p.snapshot()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.crash_writer", description=__doc__.splitlines()[0])
    parser.add_argument("home")
    parser.add_argument("project")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fsize-limit", type=int)
    parser.add_argument("--unprivileged", action="store_true")
    args = parser.parse_args(argv)
    from eventstore import CorruptLogError, DiskFullError, LogPermissionError

    if args.unprivileged and os.geteuid() == 0:
        _warm_up()
        os.setgid(65534)
        os.setuid(65534)
    if args.fsize_limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.fsize_limit, args.fsize_limit))

    try:
        run(args.home, args.project, args.agent, args.journal, args.ops, args.seed)
    except DiskFullError as exc:
        print(f"DiskFullError: {exc}", file=sys.stderr)
        return EXIT_FULL
    except OSError as exc:
        # The file-size limit binds the writer's own journal too, and now and then (a segment
        # that just rolled) the journal reaches it first: the same fault, met one write later
        # than the log would have; every acknowledged command is in the log either way.
        if exc.errno not in (errno.EFBIG, errno.ENOSPC) or args.fsize_limit is None:
            raise
        print(f"DiskFullError: the journal {args.journal} could not be written ({exc.strerror})", file=sys.stderr)
        return EXIT_FULL
    except LogPermissionError as exc:
        print(f"LogPermissionError: {exc}", file=sys.stderr)
        return EXIT_PERMISSION
    except CorruptLogError as exc:
        print(f"CorruptLogError: {exc}", file=sys.stderr)
        return EXIT_CORRUPT
    return 0


if __name__ == "__main__":
    sys.exit(main())
