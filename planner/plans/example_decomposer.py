"""A deterministic example decomposer: Design, Implement, Test.

Run as ``python -m planner.plans.example_decomposer``; it speaks the protocol of
:mod:`planner.plans.decompose` (the context as JSON on stdin, subtasks as JSON on
stdout)::

    planner plan api --exec 'python -m planner.plans.example_decomposer'

A task "X" with effort E (1.0 when not given) becomes::

    {"subtasks": [
      {"id": "design",    "title": "Design X",    "effort": 0.2 E},
      {"id": "implement", "title": "Implement X", "effort": 0.5 E, "depends_on": ["design"]},
      {"id": "test",      "title": "Test X",      "effort": the rest (0.3 E), "depends_on": ["implement"]}
    ]}

each subtask inheriting the task's capabilities and priority (when given).
A task whose title already starts with Design, Implement or Test (any case)
gives ``[]``: it cannot be decomposed further. The same input always gives
the same output, byte for byte. Bad input: a message on stderr, exit code 2.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

#: (id, verb, share of the parent's effort); the last one takes the rest
STEPS: tuple[tuple[str, str, float], ...] = (("design", "Design", 0.2), ("implement", "Implement", 0.5),
                                             ("test", "Test", 0.3))
_DONE_VERBS = {verb.lower() for _, verb, _ in STEPS}


def decompose(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The subtasks of ``context["task"]`` (see the module docstring); [] for a step already. O(1)."""
    task = context.get("task")
    if not isinstance(task, dict) or not isinstance(task.get("title"), str) or not task["title"].strip():
        raise ValueError('the context has no task title: expected {"task": {"title": ...}, ...}')
    title = task["title"].strip()
    words = title.split(maxsplit=1)
    if words[0].lower() in _DONE_VERBS:
        return []
    effort = task.get("effort")
    if effort is None:
        effort = 1.0
    if isinstance(effort, bool) or not isinstance(effort, int | float) or not math.isfinite(effort) or effort < 0:
        raise ValueError(f"task.effort must be a number >= 0, not {effort!r}")
    subtasks: list[dict[str, Any]] = []
    left = float(effort)
    for n, (local, verb, share) in enumerate(STEPS):
        part = left if n == len(STEPS) - 1 else round(effort * share, 6)
        left = round(left - part, 6)
        sub: dict[str, Any] = {"id": local, "title": f"{verb} {title}",
                               "description": f"{verb} step of: {title}", "effort": part}
        if n:
            sub["depends_on"] = [STEPS[n - 1][0]]
        if task.get("capabilities"):
            sub["capabilities"] = list(task["capabilities"])
        if task.get("priority"):
            sub["priority"] = task["priority"]
        subtasks.append(sub)
    return subtasks


def main() -> int:
    """Read the context on stdin, print the subtasks on stdout; 0, or 2 on bad input."""
    try:
        context = json.loads(sys.stdin.buffer.read().decode("utf-8"))
        if not isinstance(context, dict):
            raise ValueError("the context must be a JSON object")
        subtasks = decompose(context)
    except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError
        print(f"example_decomposer: bad context on stdin: {e}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write((json.dumps({"subtasks": subtasks}, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
