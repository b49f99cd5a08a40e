"""A planner process for the demo and stress runs: adds tasks and completes ready ones.

``python -m stress.planner_writer HOME PROJECT --worker NAME --count N``

Adds N tasks (generated ids, each depending on the previous one it added, so the
chain is real work for the ready queue), then works through its own chain:
``in_progress`` then ``completed`` for each task, in order. Prints ``added ID`` and
``done ID`` for every acknowledged command, so the caller can check them all
against the log.
"""

from __future__ import annotations

import argparse

from planner import Planner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.planner_writer")
    parser.add_argument("home")
    parser.add_argument("project")
    parser.add_argument("--worker", required=True)
    parser.add_argument("--count", type=int, default=25)
    args = parser.parse_args(argv)
    mine: list[str] = []
    with Planner.open(args.home, args.project) as planner:
        for i in range(args.count):
            task = planner.add_task(f"{args.worker} step {i}", depends_on=mine[-1:], effort=1 + i % 3,
                                    metadata={"worker": args.worker})
            mine.append(task)
            print(f"added {task}", flush=True)
        for task in mine:
            planner.transition(task, "in_progress", by=args.worker)
            planner.transition(task, "completed", by=args.worker)
            print(f"done {task}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
