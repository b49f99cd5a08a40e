"""One agent process of ``python -m stress.transitions``: guarded transitions on an open-loop schedule.

``python -m stress.transition_agent --name NAME --index I --agents A``, then one JSON
object per line on stdin, each answered with one line on stdout::

    {"op": "prepare", "system": S, "target": {...}, "rate": R, "duration": D, "out": FILE}
        opens the store, registers the agent (untimed)              -> {"ready": true}
    {"op": "start", "t0": T}       runs the window                 -> {"done": true}, figures in FILE
    EOF                            exit 0

Systems (``S``): ``superplanner`` (``target``: ``home``, ``project``, ``journal``,
``archive``), ``sqlite`` (:mod:`stress.peers.sqlite_claims`, ``target``: ``db``),
``json`` (:mod:`stress.peers.json_file_transitions`, ``target``: ``file``).

The window: cycles of three transitions (claim: pending -> assigned under a
fresh token; start: -> in_progress with the token; complete: -> completed with
the token), each a separate durable command, due on this agent's share of the
open-loop schedule (:class:`stress.openloop.Schedule`, ``R`` transitions per
second over all ``A`` agents). Cycles whose claim is due before ``t0 + D`` are
offered. When the window ends with cycles still queued (the system could not
keep up), they are not started: they are the backlog, and the oldest one's
wait is reported; a cycle under way is finished, so that no task is left held.
On the planner, every acknowledged command carries a ``command_id`` and is
journaled (:class:`stress.verify.Journal`) with what the planner said, for
the runner's final audit.

Per window the figures file holds every served transition (kind, due time,
latency from the due time, service time from its start), the refusals: a
``StaleLease`` / ``StaleToken`` (a lost lease race; none is expected, leases
last 300 s) counted apart from every other refusal or store error (an
*error*), what was claimed and completed (for the peers' checks), the backlog,
and when the project ran out of tasks (``drained_at``) if it did.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from .openloop import OpLog, Schedule, wait_until

CLAIM, START, COMPLETE = 0, 1, 2
MAX_SAMPLES = 5  # error messages kept per window


class PlannerSide:
    """The agent on the planner: its own handle, every command journaled once acknowledged."""

    system = "superplanner"

    def __init__(self, target: dict[str, Any], agent: str):
        from eventstore import EventStoreError
        from planner import Planner
        from planner.domain.errors import DomainError, StaleLease

        from .verify import Journal

        archive = {} if target.get("archive", True) else {"archive_every": 0, "archive_interval": 0}
        self.planner = Planner.open(target["home"], target["project"], **archive)
        self.journal = Journal(Path(target["journal"]))
        self.agent = agent
        self.refusals = (DomainError, EventStoreError)
        self.lost = (StaleLease,)

    def register(self) -> None:
        from planner.domain import events as ev

        c = uuid.uuid4().hex
        if self.planner.execute(ev.RegisterAgent(agent=self.agent, command_id=c)):
            self.journal.ack(c, f"register {self.agent}", [{"type": "agent.registered", "agent": self.agent}])

    def claim(self) -> tuple[str, int] | None:
        c = uuid.uuid4().hex
        lease = self.planner.claim(self.agent, command_id=c)
        if lease is None:
            return None  # nothing written, nothing to journal
        self.journal.ack(c, f"claim {lease.id}", [{"type": "task.assigned", "id": lease.id, "agent": self.agent,
                                                   "token": lease.token}])
        return lease.id, lease.token

    def start(self, task: str, token: int) -> None:
        c = uuid.uuid4().hex
        self.planner.transition(task, "in_progress", token=token, command_id=c)
        self.journal.ack(c, f"start {task}", [{"type": "task.state_changed", "id": task, "to_state": "in_progress"}])

    def complete(self, task: str, token: int) -> None:
        c = uuid.uuid4().hex
        self.planner.transition(task, "completed", token=token, command_id=c)
        self.journal.ack(c, f"complete {task}", [{"type": "task.state_changed", "id": task, "to_state": "completed"},
                                                 {"type": "lease.released", "id": task, "token": token}])

    def drained(self) -> bool:
        return not self.planner.ready(1)

    def close(self) -> None:
        self.journal.close()
        self.planner.close()


class SqliteSide:
    """The agent on the SQLite peer (WAL, synchronous=FULL): three transactions per cycle."""

    system = "sqlite"

    def __init__(self, target: dict[str, Any], agent: str):
        import sqlite3

        from .peers.sqlite_claims import SqliteClaimer, StaleToken

        self.claimer = SqliteClaimer(target["db"], agent)
        self.refusals = (StaleToken, sqlite3.Error)
        self.lost = (StaleToken,)
        self.register, self.claim = self.claimer.register, self.claimer.claim
        self.start, self.complete = self.claimer.start, self.claimer.complete

    def drained(self) -> bool:
        return not self.claimer.conn.execute("SELECT COUNT(*) FROM tasks WHERE state = 'pending'").fetchone()[0]

    def close(self) -> None:
        self.claimer.close()


class JsonSide:
    """The agent on the whole-file JSON peer: each command rewrites the file under a lock."""

    system = "json"

    def __init__(self, target: dict[str, Any], agent: str):
        from .peers.json_file_transitions import JsonFileClaimer, StaleToken

        self.claimer = JsonFileClaimer(target["file"], agent)
        self.refusals = (StaleToken, OSError, ValueError)
        self.lost = (StaleToken,)
        self.register, self.claim = self.claimer.register, self.claimer.claim
        self.start, self.complete = self.claimer.start, self.claimer.complete

    def drained(self) -> bool:
        return not self.claimer.pending()

    def close(self) -> None:
        self.claimer.close()


SIDES = {side.system: side for side in (PlannerSide, SqliteSide, JsonSide)}


def run_window(side: Any, schedule: Schedule, t0: float, duration: float) -> dict[str, Any]:
    """The cycles due in ``[t0, t0 + duration)``; the figures (see the module docstring)."""
    cycles = schedule.groups_before(duration, 3)
    log = OpLog(3 * cycles)
    claimed: list[tuple[str, int]] = []
    done: list[tuple[str, int]] = []
    errors = lost = skipped = backlog = 0
    samples: list[str] = []
    oldest_wait = 0.0
    drained_at = None
    end = t0 + duration
    for c in range(cycles):
        now = time.monotonic()
        if now >= end:  # the system fell behind: these cycles are still queued as the window closes
            backlog = 3 * (cycles - c)
            oldest_wait = now - (t0 + schedule.due(3 * c))
            break
        task = token = None
        for step in (CLAIM, START, COMPLETE):
            due = t0 + schedule.due(3 * c + step)
            wait_until(due)
            began = time.monotonic()
            try:
                if step == CLAIM:
                    got = side.claim()
                elif step == START:
                    side.start(task, token)
                else:
                    side.complete(task, token)
            except side.refusals as exc:
                if isinstance(exc, side.lost):
                    lost += 1
                else:
                    errors += 1
                    if len(samples) < MAX_SAMPLES:
                        samples.append(f"{('claim', 'start', 'complete')[step]}: {type(exc).__name__}: {exc}")
                skipped += 2 - step  # the rest of this cycle
                break
            finished = time.monotonic()
            if step == CLAIM:
                if got is None:
                    if side.drained():
                        drained_at = finished - t0
                    else:
                        errors += 1
                        if len(samples) < MAX_SAMPLES:
                            samples.append("claim: nothing granted while tasks were pending")
                    break
                task, token = got
                claimed.append(got)
            log.add(step, due - t0, finished - due, finished - began)
            if step == COMPLETE:
                done.append((task, token))
        if drained_at is not None:
            break
    served = log.n
    return {"offered": 3 * cycles, "served": served, "ops": log.to_json(), "errors": errors,
            "error_samples": samples, "lost_leases": lost, "skipped": skipped, "backlog": backlog,
            "oldest_wait": oldest_wait, "drained_at": drained_at, "claimed": claimed, "done": done}


def serve(name: str, index: int, agents: int, stdin=sys.stdin, stdout=sys.stdout) -> int:
    """Answer the runner's lines until EOF (see the module docstring)."""
    side = window = None

    def answer(message: dict[str, Any]) -> None:
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    for line in stdin:
        order = json.loads(line)
        try:
            if order["op"] == "prepare":
                window = order
                side = SIDES[order["system"]](order["target"], name)
                side.register()
                answer({"ready": True})
            elif order["op"] == "start":
                schedule = Schedule(window["rate"], agents, index)
                try:
                    figures = run_window(side, schedule, order["t0"], window["duration"])
                finally:
                    side.close()
                    side = None
                figures.update(agent=name, system=window["system"])
                Path(window["out"]).write_text(json.dumps(figures))
                answer({"done": True})
            elif order["op"] == "quit":
                break
        except Exception:  # the runner reports it and stops the run
            answer({"error": f"{name} ({order.get('op')}):\n{traceback.format_exc()[-3000:]}"})
            return 70
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.transition_agent", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--agents", type=int, required=True)
    args = parser.parse_args(argv)
    return serve(args.name, args.index, args.agents)


if __name__ == "__main__":
    sys.exit(main())
