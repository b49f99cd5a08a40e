"""One agent process of ``python -m stress.soak``: a long run of real work at a fixed pace.

``python -m stress.soak_agent --name NAME --index I --agents A [--control]``, then
one JSON object per line on stdin, each answered with one line on stdout::

    {"op": "prepare", "target": {...}, "rate": R, "duration": D, "out": FILE, "seed": S,
     "complete_share": P, "capabilities": [...], "leak_bytes": 0}   -> {"ready": true}
    {"op": "start", "t0": T}      runs the window                   -> {"done": true}, figures in FILE
    EOF                           exit 0

The work, one operation at a time on this agent's share of an open-loop
schedule of ``R`` operations per second (:mod:`stress.openloop`), in cycles:

1. claim the best ready task (a lease; nothing ready: the cycle ends there),
2. start it (``in_progress``, with the lease's token),
3. checkpoint it (notes and ~200 bytes of data, replacing the last checkpoint),
4. look at it: ``Planner.task`` and ``Planner.ready(10)`` (a query, no command),
5. finish: with probability ``P`` complete it, and then
6. add a new task in its place (so the work never runs out); otherwise give it
   back (``transition(.., "pending", token=..)``: re-opened, the checkpoint kept).

Every command carries a ``command_id`` and is journaled once acknowledged
(:class:`stress.verify.Journal`), for the runner's audit. Cycles whose claim is
due after ``t0 + D`` are not offered; one under way when the window closes is
finished, so no task stays leased.

The process measures itself in fixed memory (so that measuring does not look
like a leak): per operation its kind, due time, latency and service time in
arrays allocated before the window (:class:`stress.openloop.OpLog`), and every
garbage-collector pause (:class:`stress.gcwatch.GcWatch`). Its RSS is sampled
from outside, by the runner. ``--control`` runs the same schedule, imports and
measurements without the planner (each operation is a JSON round trip of a
similar payload): its memory slope is what the measurement reads when nothing
grows. ``leak_bytes`` makes every operation keep that many bytes for good: the
tests' proof that a leak is caught.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from .gcwatch import GcWatch
from .openloop import OpLog, Schedule, wait_until

CLAIM, START, CHECKPOINT, LOOK, COMPLETE, REOPEN, ADD, IDLE_CLAIM, CONTROL = range(9)
KINDS = ("claim", "start", "checkpoint", "look", "complete", "reopen", "add", "claim (nothing ready)", "control")
COMMANDS = {CLAIM, START, CHECKPOINT, COMPLETE, REOPEN, ADD}
MAX_SAMPLES = 5
_kept: list[bytes] = []  # the injected leak


class PlannerWork:
    """The cycle of the module docstring on a planner handle."""

    def __init__(self, order: dict[str, Any], agent: str):
        from planner import Planner
        from planner.domain.errors import DomainError, StaleLease

        from .verify import Journal

        target = order["target"]
        archive = {} if target.get("archive", True) else {"archive_every": 0, "archive_interval": 0}
        self.planner = Planner.open(target["home"], target["project"], **archive)
        self.journal = Journal(Path(target["journal"]))
        self.agent = agent
        self.rng = random.Random(f"{order['seed']}:{agent}")
        self.complete_share = order["complete_share"]
        self.capabilities = order["capabilities"]
        self.refusals, self.lost = (DomainError,), (StaleLease,)
        self.added = 0
        self.task: str | None = None
        self.token: int | None = None
        self.completed = False

    def register(self) -> None:
        from planner.domain import events as ev

        c = uuid.uuid4().hex
        if self.planner.execute(ev.RegisterAgent(agent=self.agent, capabilities=tuple(self.capabilities),
                                                 command_id=c)):
            self.journal.ack(c, f"register {self.agent}", [{"type": "agent.registered", "agent": self.agent}])

    def step(self, position: int) -> int | None:
        """Operation ``position`` of the current cycle; its kind, or None when the cycle is over."""
        p, j, task, token = self.planner, self.journal, self.task, self.token
        c = uuid.uuid4().hex
        if position == 0:
            lease = p.claim(self.agent, command_id=c)
            if lease is None:
                return IDLE_CLAIM
            self.task, self.token = lease.id, lease.token
            j.ack(c, f"claim {lease.id}", [{"type": "task.assigned", "id": lease.id, "agent": self.agent,
                                            "token": lease.token}])
            return CLAIM
        if position == 1:
            p.transition(task, "in_progress", token=token, command_id=c)
            j.ack(c, f"start {task}", [{"type": "task.state_changed", "id": task, "to_state": "in_progress"}])
            return START
        if position == 2:
            notes = f"step {self.rng.randrange(1 << 30)} by {self.agent}"
            data = {"progress": self.rng.random(), "log": "".join(self.rng.choices("abcdefgh", k=200))}
            p.checkpoint(task, notes=notes, data=data, token=token, command_id=c)
            j.ack(c, f"checkpoint {task}", [{"type": "task.checkpointed", "id": task, "notes": notes}])
            return CHECKPOINT
        if position == 3:
            p.task(task)
            p.ready(10)
            return LOOK
        if position == 4:
            self.completed = self.rng.random() < self.complete_share
            if self.completed:
                p.transition(task, "completed", token=token, command_id=c)
                j.ack(c, f"complete {task}", [{"type": "task.state_changed", "id": task, "to_state": "completed"},
                                              {"type": "lease.released", "id": task, "token": token}])
                return COMPLETE
            p.transition(task, "pending", reason="soak: re-opened", token=token, command_id=c)
            j.ack(c, f"reopen {task}", [{"type": "lease.released", "id": task, "token": token},
                                        {"type": "task.state_changed", "id": task, "to_state": "pending"}])
            return REOPEN
        if position == 5 and self.completed:
            self.added += 1
            new = f"{self.agent}-{self.added}"
            caps = self.rng.sample(self.capabilities, k=min(len(self.capabilities), self.rng.randrange(0, 3)))
            p.add_task(f"follow-up {self.added} of {self.agent}", id=new, capabilities=caps,
                       priority=self.rng.choice(("low", "medium", "high", "critical")),
                       effort=float(self.rng.choice((1, 2, 3, 5))), command_id=c)
            j.ack(c, f"add {new}", [{"type": "task.added", "id": new}])
            return ADD
        return None

    def abandon(self) -> None:
        """After a refusal: give the task back if we still hold it (best effort, journaled)."""
        if self.task is None:
            return
        c = uuid.uuid4().hex
        try:
            self.planner.release(self.task, self.token, reason="soak: after an error", command_id=c)
            self.journal.ack(c, f"release {self.task}", [{"type": "lease.released", "id": self.task}])
        except self.refusals:
            pass

    def end_cycle(self) -> None:
        self.task = self.token = None

    def close(self) -> None:
        self.journal.close()
        self.planner.close()


class ControlWork:
    """The same pace, imports and measurements, without the planner: the noise floor."""

    refusals = lost = ()

    def __init__(self, order: dict[str, Any], agent: str):
        import planner.engine.engine  # noqa: F401  (the planner's engine loaded, as in an agent)

        self.rng = random.Random(f"{order['seed']}:{agent}")

    def register(self) -> None:
        pass

    def step(self, position: int) -> int | None:
        if position >= 5:
            return None
        payload = {"id": f"T{self.rng.randrange(1000)}", "notes": "x" * 40, "log": "y" * 200}
        json.loads(json.dumps(payload))
        return CONTROL

    def abandon(self) -> None:
        pass

    def end_cycle(self) -> None:
        pass

    def close(self) -> None:
        pass


def run_window(work: Any, schedule: Schedule, t0: float, duration: float, capacity: int, leak_bytes: int
               ) -> dict[str, Any]:
    """Cycles of operations, each on its due time, until the window closes (module docstring)."""
    log = OpLog(capacity)
    counts = [0] * len(KINDS)
    errors = lost = backlog = 0
    samples: list[str] = []
    end = t0 + duration
    k = 0
    while t0 + schedule.due(k) < end:
        if time.monotonic() >= end:  # behind schedule as the window closes: the rest is backlog
            while t0 + schedule.due(k + backlog) < end:
                backlog += 1
            break
        position = 0
        while True:
            due = t0 + schedule.due(k)
            wait_until(due)
            began = time.monotonic()
            try:
                kind = work.step(position)
            except work.refusals as exc:
                if isinstance(exc, work.lost):
                    lost += 1
                else:
                    errors += 1
                    if len(samples) < MAX_SAMPLES:
                        samples.append(f"operation {position} of a cycle: {type(exc).__name__}: {exc}")
                work.abandon()
                k += 1
                break
            if kind is None:
                break
            finished = time.monotonic()
            log.add(kind, due - t0, finished - due, finished - began)
            counts[kind] += 1
            if leak_bytes:
                _kept.append(b"\x01" * leak_bytes)  # touched pages: they count in RSS
            k += 1
            position += 1
            if kind == IDLE_CLAIM:
                break
        work.end_cycle()
    return {"ops": log.to_json(), "counts": dict(zip(KINDS, counts, strict=True)), "errors": errors,
            "error_samples": samples, "lost_leases": lost, "backlog": backlog, "offered": k + backlog}


def serve(name: str, index: int, agents: int, control: bool, stdin=sys.stdin, stdout=sys.stdout) -> int:
    """Answer the runner's lines until EOF (see the module docstring)."""
    work = order = gcw = None

    def answer(message: dict[str, Any]) -> None:
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    for line in stdin:
        request = json.loads(line)
        try:
            if request["op"] == "prepare":
                order = request
                work = (ControlWork if control else PlannerWork)(order, name)
                work.register()
                gcw = GcWatch().install()
                answer({"ready": True, "pid": os.getpid()})
            elif request["op"] == "start":
                schedule = Schedule(order["rate"], agents, index)
                capacity = int(order["rate"] / agents * order["duration"] * 1.1) + 64
                try:
                    figures = run_window(work, schedule, request["t0"], order["duration"], capacity,
                                         order.get("leak_bytes", 0))
                finally:
                    gcw.uninstall()
                    work.close()
                figures.update(agent=name, control=control, gc=gcw.to_json())
                Path(order["out"]).write_text(json.dumps(figures))
                answer({"done": True})
        except Exception:  # the runner reports it and stops the run
            answer({"error": f"{name} ({request.get('op')}):\n{traceback.format_exc()[-3000:]}"})
            return 70
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.soak_agent", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--control", action="store_true")
    args = parser.parse_args(argv)
    return serve(args.name, args.index, args.agents, args.control)


if __name__ == "__main__":
    sys.exit(main())
