"""The agent process of the server tests: claims, starts and completes tasks until none is left,
through the server of its home or embedded.

::

    python -m tests.server.agent HOME PROJECT NAME served|embedded [--store STORE] [--journal FILE]
                                 [--checkpoints] [--wait-on-log] [--retry]

It prints one line per step, flushed (the tests read them from the pipe)::

    ack register                 registered (with AGENT_WAIT_FOR_GO=1: then waits for a line on stdin)
    ack TASK TOKEN               leased and started
    ack TASK done                completed
    error: MESSAGE               no server to connect to, or it is gone (one line): exit status 3

and with the options:

``--store STORE``
    the project is in that store (a server of the home serves it only if it serves that store).
``--journal FILE``
    every acknowledged command is journaled there (``stress.verify`` checks the journals).
``--checkpoints``
    after starting a task, it checkpoints it, resuming from an earlier holder's checkpoint
    (``ack resume TASK SEQ``); a lease that ran out before it finished is reported
    (``lost TASK TOKEN``: someone else resumes it). With ``AGENT_HOLD_AT=N``, at its Nth task
    it keeps the task (``ack held TASK TOKEN``), renewing the lease as a working agent does,
    until a line on stdin or the end of its server.
``--wait-on-log``
    with nothing to claim while others hold tasks, it waits on the log (``follow``:
    LISTEN/NOTIFY on PostgreSQL) for the next record, such as the reaper's ``lease.expired``,
    never on a timer (without it: a heartbeat, then it asks again).
``--retry``
    every command carries a command id of its own; when the store fails (``down: MESSAGE``,
    one line) it waits for a line on stdin (the test's "it is back") and sends the same
    command again, with the same id, so that it is applied once.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import uuid

from eventstore import EventStoreError, open_store
from planner.domain.errors import DomainError, StaleLease
from planner.service.opening import open_service
from planner.service.wire import ServerGone

#: the longest wait for someone else's record: a safety net only (the reaper writes every second)
IDLE_WAIT_S = 30.0
#: how often a held task's lease is renewed: well inside the tests' 2 s lease
RENEW_S = 0.4
#: the store's errors as a client of a server sees them (decoded by class name)
STORE_DOWN = ("StoreUnavailableError", "ConnectionLostError", "EventStoreError", "DurabilityError")


class Agent:
    def __init__(self, args: argparse.Namespace, service) -> None:
        self.args, self.s, self.name = args, service, args.name
        self.log = open_store(args.store, args.project) if args.wait_on_log else None
        self.records = self.log.follow(1, timeout=IDLE_WAIT_S) if self.log is not None else None
        self.done = 0

    def call(self, op: str, *args, command: bool = True, **kwargs):
        """``service.op(...)``; with ``--retry``, again after each outage, with the same command id."""
        if not self.args.retry:
            return getattr(self.s, op)(*args, **kwargs)
        if command:
            kwargs["command_id"] = uuid.uuid4().hex  # the same id on every attempt
        while True:
            try:
                return getattr(self.s, op)(*args, **kwargs)
            except (EventStoreError, DomainError) as exc:
                if not (isinstance(exc, EventStoreError) or type(exc).__name__ in STORE_DOWN):
                    raise
                print(f"down: {type(exc).__name__}: {exc}", flush=True)
                if not sys.stdin.readline():  # the test closed our stdin: give up
                    raise

    def run(self) -> int:
        self.call("register_agent", self.name)
        print("ack register", flush=True)
        if os.environ.get("AGENT_WAIT_FOR_GO"):
            sys.stdin.readline()  # every agent starts claiming at once (the test writes a line to all)
        while True:
            lease = self.call("claim", self.name)
            if lease is None:
                status = self.call("status", command=False)
                if status["ready"] == 0 and status["held"] == 0:
                    return 0
                if self.log is not None and status["ready"] == 0:  # others hold the rest: wait for the log
                    self._wait_past(status["seq"])
                elif self.log is None:
                    self.call("heartbeat", self.name)  # (someone holds the rest: they finish soon)
                continue
            try:
                self.work(lease["task"], lease["token"])
            except StaleLease:
                print(f"lost {lease['task']} {lease['token']}", flush=True)

    def work(self, task: str, token: int) -> None:
        checkpoint = self.call("show", task, command=False)["checkpoint"] if self.args.checkpoints else None
        self.call("set_state", task, "in_progress", token=token, by=self.name)
        print(f"ack {task} {token}", flush=True)
        if self.args.checkpoints:
            if checkpoint is not None:
                print(f"ack resume {task} {checkpoint['seq']}", flush=True)
            step = (checkpoint or {}).get("data", {}).get("step", 0) + 1
            self.call("checkpoint", task, notes=f"step {step} by {self.name}", data={"step": step}, by=self.name,
                      token=token)
            self.done += 1
            if self.done == int(os.environ.get("AGENT_HOLD_AT", "0")):
                print(f"ack held {task} {token}", flush=True)
                while not select.select([sys.stdin], [], [], RENEW_S)[0]:  # working: renew (ServerGone ends it)
                    self.call("renew", task, token)
                sys.stdin.readline()
        self.call("set_state", task, "completed", token=token, by=self.name)
        print(f"ack {task} done", flush=True)

    def _wait_past(self, seq: int) -> None:
        """Consume the followed records until one after ``seq`` (a new follow if the old one
        ended after :data:`IDLE_WAIT_S` of silence)."""
        for record in self.records:
            if record.seq > seq:
                return
        self.records = self.log.follow(seq + 1, timeout=IDLE_WAIT_S)

    def close(self) -> None:
        self.s.close()
        if self.log is not None:
            self.log.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.server.agent")
    parser.add_argument("home")
    parser.add_argument("project")
    parser.add_argument("name")
    parser.add_argument("mode", choices=["served", "embedded"])
    parser.add_argument("--store")
    parser.add_argument("--journal")
    parser.add_argument("--checkpoints", action="store_true")
    parser.add_argument("--wait-on-log", action="store_true")
    parser.add_argument("--retry", action="store_true")
    args = parser.parse_args()
    options = {k: v for k, v in (("store", args.store), ("journal", args.journal)) if v}
    try:
        service = open_service(args.home, args.project, server=(args.mode == "served"), **options)
    except DomainError as exc:  # served, and no server (any more): say so
        print(f"error: {exc}", flush=True)
        return 3
    agent = Agent(args, service)
    try:
        return agent.run()
    except ServerGone as exc:
        print(f"error: {exc}", flush=True)
        return 3
    except (DomainError, EventStoreError) as exc:  # (with --retry: an error that is not an outage)
        if not args.retry:
            raise
        print(f"error: {type(exc).__name__}: {exc}", flush=True)
        return 3
    finally:
        agent.close()


if __name__ == "__main__":
    sys.exit(main())
