"""An agent process for the PostgreSQL restart test: claims, starts and completes tasks until none is
left, in a project of a PostgreSQL store, embedded or through ``planner --store URL serve``.

``python -m tests.server.pg_agent HOME PROJECT NAME served|embedded STORE JOURNAL``; prints one
line per step, flushed (the test reads them from the pipe)::

    ack register | ack TASK TOKEN | ack TASK done     acknowledged (and journaled)
    down: MESSAGE                                     the store failed (one line); then waits for a
                                                      line on stdin (the test's "it is back") and
                                                      retries the same command, with the same id
    error: MESSAGE                                    anything else: exit status 3

Every command carries a command id of its own, so a retry after an outage (the first attempt
may or may not have committed) is applied once.
"""

from __future__ import annotations

import sys
import uuid

from eventstore import EventStoreError
from planner.domain.errors import DomainError
from planner.service.opening import open_service

#: the store's errors as a client of a server sees them (decoded by class name)
STORE_DOWN = ("StoreUnavailableError", "ConnectionLostError", "EventStoreError", "DurabilityError")


def main() -> int:
    home, project, name, mode, store, journal = sys.argv[1:7]
    s = open_service(home, project, server=(mode == "served"), store=store, journal=journal)

    def call(op: str, *args, command: bool = True, **kwargs):
        if command:
            kwargs["command_id"] = uuid.uuid4().hex  # the same id on every attempt
        while True:
            try:
                return getattr(s, op)(*args, **kwargs)
            except (EventStoreError, DomainError) as exc:
                if not (isinstance(exc, EventStoreError) or type(exc).__name__ in STORE_DOWN):
                    raise
                print(f"down: {type(exc).__name__}: {exc}", flush=True)
                if not sys.stdin.readline():  # the test closed our stdin: give up
                    raise

    try:
        call("register_agent", name)
        print("ack register", flush=True)
        while True:
            lease = call("claim", name)
            if lease is None:
                status = call("status", command=False)
                if status["ready"] == 0 and status["held"] == 0:
                    return 0
                call("heartbeat", name)  # (someone holds the rest: they finish soon)
                continue
            call("set_state", lease["task"], "in_progress", token=lease["token"], by=name)
            print(f"ack {lease['task']} {lease['token']}", flush=True)
            call("set_state", lease["task"], "completed", token=lease["token"], by=name)
            print(f"ack {lease['task']} done", flush=True)
    except (DomainError, EventStoreError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", flush=True)
        return 3
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
