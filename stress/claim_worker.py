"""An agent process for tests and benchmarks: register, then claim and finish tasks until none is left.

``python -m stress.claim_worker HOME PROJECT --agent NAME [--ttl 60] [--server | --no-server]``

Opens the project as the planner's adapters do (:func:`stress.serving.open_project`):
through ``planner serve`` when a server serves HOME, else embedded; ``--server``
insists on a server (an error if none runs), ``--no-server`` never uses one. Prints
``claimed TASK TOKEN`` and ``done TASK TOKEN`` for every acknowledged command, so
the caller can check them against the log. Exits when a claim finds nothing ready
and nothing is held.
"""

from __future__ import annotations

import argparse

from stress.serving import open_project


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.claim_worker")
    parser.add_argument("home")
    parser.add_argument("project")
    parser.add_argument("--agent", required=True)
    parser.add_argument("--ttl", type=float, default=60.0)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--server", dest="server", action="store_const", const=True, default=None,
                      help="go through the server that serves HOME (an error if none does)")
    mode.add_argument("--no-server", dest="server", action="store_const", const=False,
                      help="open the project embedded even when a server serves HOME")
    args = parser.parse_args(argv)
    with open_project(args.home, args.project, server=args.server) as service:
        service.register_agent(args.agent)
        while True:
            lease = service.claim(args.agent, ttl=args.ttl)
            if lease is None:
                break
            task, token = lease["task"], lease["token"]
            print(f"claimed {task} {token}", flush=True)
            service.set_state(task, "in_progress", token=token)
            service.set_state(task, "completed", token=token)
            print(f"done {task} {token}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
