"""An agent process for the server tests: claims, starts and completes tasks until none is left.

``python -m tests.server.agent HOME PROJECT NAME served|embedded [JOURNAL]``; prints ``ack ...``
after every acknowledged command (with ``AGENT_WAIT_FOR_GO=1``, it waits for a line on
stdin once registered) (the test reads them from the pipe), and on a lost server (or
none to connect to) prints the one-line error and exits 3.
"""

from __future__ import annotations

import os
import sys

from planner.domain.errors import DomainError
from planner.service.opening import open_service
from planner.service.wire import ServerGone


def main() -> int:
    home, project, name, mode = sys.argv[1:5]
    journal = sys.argv[5] if len(sys.argv) > 5 else None
    try:
        s = open_service(home, project, server=(mode == "served"), journal=journal)
    except DomainError as exc:  # served, and no server (any more): say so
        print(f"error: {exc}", flush=True)
        return 3
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
                s.heartbeat(name)  # (someone holds the rest: they finish soon)
                continue
            s.set_state(lease["task"], "in_progress", token=lease["token"], by=name)
            print(f"ack {lease['task']} {lease['token']}", flush=True)
            s.set_state(lease["task"], "completed", token=lease["token"], by=name)
            print(f"ack {lease['task']} done", flush=True)
    except ServerGone as exc:
        print(f"error: {exc}", flush=True)
        return 3
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
