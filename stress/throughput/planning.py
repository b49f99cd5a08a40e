"""Planning mode: break every task of an N-task outline down (the spec: 500 tasks in < 5 minutes).

The outline (Markdown, ``planner import outline.md``): ``areas`` headings, each with
``epics`` items, each with ``features`` items: ``areas x (1 + epics x (1 + features))``
tasks (10, 7, 6: 500), three levels, explicit ids. Then, level by level (the areas, then
the epics, then the features, in the outline's order), one command per task::

    planner --no-server plan TASK --exec 'python -m planner.plans.example_decomposer'

Each run starts the decomposer (a process), gives it the task's context, checks its
Design / Implement / Test subtasks and appends them as one batch: 3N tasks added, each
chain ``design <- implement <- test``. Timed from the first command to the last. The
**decomposer's share**: the decomposer alone, run as a process on one context (spawn to
exit, the median of ``PROBES`` runs), times N, over that total.

**MCP**: the same outline imported into a second project; one MCP session (the official
client over stdio, ``planner mcp``) and, level by level, the same subtasks (the example
decomposer's function, in this process: an agent decides them itself) added with the
``add_task`` tool, one call each, after ``show_task`` for the task's context (4N calls). Timed from the session's start to its end.

Afterwards: ``planner replay --verify`` on both, every task of the outline with its three
steps, and the two projects' exports identical (the same tasks, titles, parents, efforts
and dependencies, whichever way they were added).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stress.serving import REPO

from .common import Cli, CommandFailed, exported_tasks, verify

DECOMPOSER = f"{shlex.quote(sys.executable)} -m planner.plans.example_decomposer"  # this venv's Python
STEPS = ("design", "implement", "test")
PROBES = 10


@dataclass
class PlanningRun:
    """One repetition: the outline's size, the two times, the decomposer's own process time."""

    tasks: int
    cli_s: float = float("nan")
    mcp_s: float = float("nan")
    decomposer_s: float = float("nan")  # one decomposer process, spawn to exit (median)
    problems: list[str] = field(default_factory=list)

    @property
    def decomposer_share(self) -> float:
        return self.decomposer_s * self.tasks / self.cli_s


def outline(areas: int, epics: int, features: int) -> tuple[str, list[list[str]]]:
    """The Markdown outline and its task ids by level."""
    lines: list[str] = []
    levels: list[list[str]] = [[], [], []]
    for a in range(1, areas + 1):
        area = f"A{a:02d}"
        lines += [f"# Area {a} {{#{area}}}", ""]
        levels[0].append(area)
        for e in range(1, epics + 1):
            epic = f"{area}-E{e}"
            lines.append(f"- Epic {a}.{e} {{#{epic}}}")
            levels[1].append(epic)
            for f in range(1, features + 1):
                feature = f"{epic}-F{f}"
                lines.append(f"  - Feature {a}.{e}.{f} {{#{feature} effort=2}}")
                levels[2].append(feature)
        lines.append("")
    return "\n".join(lines), levels


def _probe_decomposer(env: Mapping[str, str]) -> float:
    context = json.dumps({"task": {"id": "A01", "title": "Area 1", "effort": 1.0}, "ancestors": [], "siblings": [],
                          "project": {"name": "probe"}, "depth": 1})
    times = []
    for _ in range(PROBES):
        start = time.perf_counter()
        subprocess.run(shlex.split(DECOMPOSER), input=context, capture_output=True, text=True, cwd=REPO, env=dict(env),
                       timeout=60, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _by_cli(cli: Cli, levels: list[list[str]]) -> float:
    start = time.perf_counter()
    for level in levels:
        for task in level:
            cli.run("plan", task, "--exec", DECOMPOSER)
    return time.perf_counter() - start


async def _by_mcp(env: Mapping[str, str], cli: Cli, levels: list[list[str]]) -> float:
    from contextlib import AsyncExitStack

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    from planner.plans.example_decomposer import decompose

    start = time.perf_counter()
    params = StdioServerParameters(command=sys.executable, args=cli.argv("mcp", "--agent", "planner-bench")[1:],
                                   env=dict(env), cwd=str(REPO))
    async with AsyncExitStack() as stack:
        read, write = await stack.enter_async_context(stdio_client(params))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        for level in levels:
            for task in level:
                shown = await session.call_tool("show_task", {"task": task})
                if shown.is_error:
                    raise CommandFailed(f"show_task {task}: {shown.content[0].text if shown.content else ''}")
                info = shown.structured_content
                context = {"task": {k: info.get(k) for k in ("id", "title", "effort", "priority", "capabilities")}}
                for sub in decompose(context):
                    args = {"title": sub["title"], "id": f"{task}.{sub['id']}", "parent": task,
                            "depends_on": [f"{task}.{d}" for d in sub.get("depends_on", [])],
                            "effort": sub["effort"], "description": sub["description"],
                            "priority": sub.get("priority", "medium"), "capabilities": sub.get("capabilities", [])}
                    result = await session.call_tool("add_task", args)
                    if result.is_error:
                        raise CommandFailed(f"add_task {args['id']}: {result.content[0].text if result.content else ''}")
    return time.perf_counter() - start


def _check(levels: list[list[str]]) -> Any:
    outline_ids = [t for level in levels for t in level]

    def check(tasks: dict[str, dict[str, Any]]) -> list[str]:
        problems = []
        if len(tasks) != 4 * len(outline_ids):
            problems.append(f"{len(tasks)} tasks, expected {4 * len(outline_ids)}")
        for t in outline_ids:
            subs = [tasks.get(f"{t}.{s}") for s in STEPS]
            if any(s is None or s["parent_id"] != t or s["status"] != "pending" for s in subs):
                problems.append(f"{t} was not broken into pending {', '.join(STEPS)} subtasks")
            elif subs[1]["dependencies"] != [f"{t}.design"] or subs[2]["dependencies"] != [f"{t}.implement"]:
                problems.append(f"{t}'s steps do not depend on each other in order")
        return problems[:5]
    return check


def _comparable(tasks: dict[str, dict[str, Any]]) -> dict[str, tuple]:
    return {t: (v["name"], v["parent_id"], v["estimated_effort"], tuple(sorted(v["dependencies"])), v["priority"])
            for t, v in tasks.items()}


def run_planning(work: Path, env: Mapping[str, str], shape: tuple[int, int, int]) -> PlanningRun:
    """One repetition in ``work`` on the outline of ``shape`` (areas, epics, features): the CLI,
    then MCP, then the checks."""
    text, levels = outline(*shape)
    run = PlanningRun(sum(len(level) for level in levels))
    home = work / "home"
    (work / "outline.md").write_text(text)
    cli, mcp = Cli(env, home, "plan-cli"), Cli(env, home, "plan-mcp")
    for c in (cli, mcp):
        c.run("import", str(work / "outline.md"), "--create")
    run.decomposer_s = _probe_decomposer(env)
    try:
        run.cli_s = _by_cli(cli, levels)
        run.mcp_s = asyncio.run(_by_mcp(env, mcp, levels))
    except CommandFailed as exc:
        run.problems.append(f"planning: {exc}")
        return run
    check = _check(levels)
    run.problems += verify(cli, check, "planning (cli)") + verify(mcp, check, "planning (mcp)")
    if not run.problems:
        ours, theirs = _comparable(exported_tasks(cli)), _comparable(exported_tasks(mcp))
        differ = sorted(t for t in ours.keys() | theirs.keys() if ours.get(t) != theirs.get(t))
        if differ:
            run.problems.append(f"planning: the CLI's and the MCP's projects differ in {len(differ)} tasks, e.g. "
                                f"{differ[0]}: {ours.get(differ[0])} vs {theirs.get(differ[0])}")
    return run
