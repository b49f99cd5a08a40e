"""An agent process for tests and benchmarks: register, then claim and finish tasks until none is left.

``python -m stress.claim_worker HOME PROJECT --agent NAME [--capacity 1] [--ttl 60]``

Prints ``claimed TASK TOKEN`` and ``done TASK TOKEN`` for every acknowledged
command, so the caller can check them against the log. Exits when a claim
finds nothing ready and nothing is held.
"""

from __future__ import annotations

import argparse

from planner import Planner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.claim_worker")
    parser.add_argument("home")
    parser.add_argument("project")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--ttl", type=float, default=60.0)
    args = parser.parse_args(argv)
    with Planner.open(args.home, args.project) as planner:
        planner.register_agent(args.agent)
        while True:
            lease = planner.claim(args.agent, ttl=args.ttl)
            if lease is None:
                break
            print(f"claimed {lease.id} {lease.token}", flush=True)
            planner.transition(lease.id, "in_progress", token=lease.token)
            planner.transition(lease.id, "completed", token=lease.token)
            print(f"done {lease.id} {lease.token}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
