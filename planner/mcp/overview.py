"""The ``planner://{project}/overview`` resource: the project at a glance, in Markdown.

Progress, the ready work (best first), the agents and their leases, and what holds the
plan back (blocked and failed leaves, the most waited-on tasks that are not done). Built
from service queries only: status, ready, agents, analyze (O(n + e), the costliest), and
one show per bottleneck listed.
"""

from __future__ import annotations

from typing import Any

READY_SHOWN = 10
BOTTLENECKS_SHOWN = 5


def overview(service: Any) -> str:
    """The Markdown text (see the module docstring)."""
    status = service.status()
    progress = status["progress"]
    states = ", ".join(f"{n} {state}" for state, n in status["leaves_by_state"].items()) or "no tasks yet"
    lines = [f"# {status['project']}: overview", "",
             f"- mode: **{status['mode']}**" + (" (claims are paused)" if status["mode"] != "working" else ""),
             f"- progress: {progress['completed']} of {progress['leaves']} leaf tasks completed "
             f"({progress['fraction']:.0%}); {states}",
             f"- {status['tasks']} tasks, {status['ready']} ready, {status['held']} held under a lease; "
             f"log at seq {status['seq']}", ""]
    ready = service.ready(READY_SHOWN)
    lines += [f"## Ready work ({status['ready']})", ""]
    lines += [f"- `{r['id']}` {r['title']} ({r['priority']}, effort {r['effort']:g}"
              + (f", needs {', '.join(r['capabilities'])}" if r["capabilities"] else "") + ")" for r in ready]
    if status["ready"] > len(ready):
        lines.append(f"- ... and {status['ready'] - len(ready)} more (the `ready` tool lists them)")
    if not ready:
        lines.append("- nothing is ready")
    lines += ["", "## Agents", ""]
    agents = [a for a in service.agents() if a["active"]]
    for a in agents:
        leases = ", ".join(f"`{x['task']}` (token {x['token']}, expires in {x['expires_in']:.0f} s)"
                           for x in a["leases"]) or "nothing"
        lines.append(f"- {a['id']} ({a['health']}, {len(a['leases'])}/{a['capacity']}): holds {leases}")
    if not agents:
        lines.append("- no agent is registered")
    lines += ["", "## Blockers", ""]
    stuck = {state: n for state, n in status["leaves_by_state"].items() if state in ("blocked", "failed")}
    lines += [f"- {n} leaf tasks {state}" for state, n in stuck.items()]
    waited = []
    for b in service.analyze(top=BOTTLENECKS_SHOWN * 4)["bottlenecks"]:
        task = service.show(b["id"])
        if not task["done"]:
            waited.append(f"- `{task['id']}` {task['title']} ({task['state']}): {b['dependents']} tasks wait on it")
        if len(waited) == BOTTLENECKS_SHOWN:
            break
    if waited:
        lines += ["", "Most waited on, not done yet:", *waited]
    if not stuck and not waited:
        lines.append("- none")
    return "\n".join(lines) + "\n"
