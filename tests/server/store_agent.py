"""An agent process for the several-servers tests: one project in a shared store, reached through
the server of its home or embedded; claims, starts, checkpoints and completes tasks until none is left.

``python -m tests.server.store_agent HOME PROJECT NAME served|embedded STORE``; prints one line
per step, flushed (the test reads them from the pipe)::

    ack register                 registered (with AGENT_WAIT_FOR_GO=1: then waits for a line on stdin)
    ack TASK TOKEN               leased and started
    ack resume TASK SEQ          the task had a checkpoint (saved at SEQ by an earlier holder): resumed from it
    ack held TASK TOKEN          (AGENT_HOLD_AT=N: at its Nth task, checkpointed, it keeps the task,
                                 renewing the lease as a working agent does, until a line on stdin or
                                 the end of its server: the test kills the server meanwhile)
    ack TASK done                completed
    lost TASK TOKEN              the lease ran out before we finished (StaleLease): someone else resumes it
    error: MESSAGE               the server is gone (ServerGone, one line): exit status 3

With nothing to claim while others hold tasks, it waits on the log (``follow``: LISTEN/NOTIFY
on PostgreSQL) for the next record, such as the reaper's ``lease.expired``, never on a timer.
"""

from __future__ import annotations

import os
import select
import sys

from eventstore import open_store
from planner.domain.errors import DomainError, StaleLease
from planner.service.opening import open_service
from planner.service.wire import ServerGone

#: the longest wait for someone else's record: a safety net only (the reaper writes every second)
IDLE_WAIT_S = 30.0
#: how often a held task's lease is renewed: well inside the tests' 2 s lease
RENEW_S = 0.4


def main() -> int:
    home, project, name, mode, store = sys.argv[1:6]
    hold_at = int(os.environ.get("AGENT_HOLD_AT", "0"))
    try:
        s = open_service(home, project, server=(mode == "served"), store=store)
    except DomainError as exc:  # served, and no server (any more): say so
        print(f"error: {exc}", flush=True)
        return 3
    log = open_store(store, project)
    records = log.follow(1, timeout=IDLE_WAIT_S)
    done = 0
    try:
        s.register_agent(name)
        print("ack register", flush=True)
        if os.environ.get("AGENT_WAIT_FOR_GO"):
            sys.stdin.readline()  # every agent starts claiming at once (the test writes a line to all)
        while True:
            lease = s.claim(name)
            if lease is None:
                status = s.status()
                if status["ready"] == 0 and status["held"] == 0:
                    return 0
                if status["ready"] == 0:  # others hold the rest: wait for the log to move
                    records = _wait_past(records, log, status["seq"])
                continue
            task, token = lease["task"], lease["token"]
            try:
                checkpoint = s.show(task)["checkpoint"]
                s.set_state(task, "in_progress", token=token, by=name)
                print(f"ack {task} {token}", flush=True)
                if checkpoint is not None:
                    print(f"ack resume {task} {checkpoint['seq']}", flush=True)
                step = (checkpoint or {}).get("data", {}).get("step", 0) + 1
                s.checkpoint(task, notes=f"step {step} by {name}", data={"step": step}, by=name, token=token)
                done += 1
                if done == hold_at:
                    print(f"ack held {task} {token}", flush=True)
                    while not select.select([sys.stdin], [], [], RENEW_S)[0]:  # working: renew (ServerGone ends it)
                        s.renew(task, token)
                    sys.stdin.readline()
                s.set_state(task, "completed", token=token, by=name)
                print(f"ack {task} done", flush=True)
            except StaleLease:
                print(f"lost {task} {token}", flush=True)
    except ServerGone as exc:
        print(f"error: {exc}", flush=True)
        return 3
    finally:
        s.close()
        log.close()


def _wait_past(records, log, seq: int):
    """Consume the followed records until one after ``seq``; the iterator to go on with (a new
    one if the old ended after :data:`IDLE_WAIT_S` of silence)."""
    for record in records:
        if record.seq > seq:
            return records
    return log.follow(seq + 1, timeout=IDLE_WAIT_S)


if __name__ == "__main__":
    sys.exit(main())
