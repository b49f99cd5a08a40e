"""``planner watch``: the project live, redrawn as events land.

One frame: a progress bar (completed leaves of all leaves), the agents (health,
load, the tasks they hold and when those leases run out) and the latest
events. ``state()`` is the same frame as plain data (``--json --once``).

Live, it follows the log (``EventLog.follow``: watchfiles notifications, no
polling of the file) and redraws after each append, at most ten times a
second during a burst, and once a second when nothing happens (the expiry
countdowns move). A redraw folds the new events into the planner (lock-free,
O(new events)) and renders O(agents + leases + events shown).
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any


def health(agent: dict[str, Any], now: float, ttl: float) -> str:
    """``alive`` (heard from within the lease TTL), ``silent for N s``, or ``deregistered``.
    Working agents are heard from at least every TTL/2 (renewals, heartbeats), and one
    silent for a whole TTL loses its leases."""
    if not agent["active"]:
        return "deregistered"
    silent = now - agent["last_seen"]
    return "alive" if silent < ttl else f"silent for {silent:.0f} s"


def agents_view(planner: Any, now: float | None = None) -> list[dict[str, Any]]:
    """``Planner.agents()`` plus each agent's ``health`` and each lease's ``expires_in`` (seconds)."""
    now = time.time() if now is None else now
    ttl = planner.graph.lease_ttl
    rows = planner.agents()
    for row in rows:
        row["health"] = health(row, now, ttl)
        for lease in row["leases"]:
            lease["expires_in"] = round(lease["expires_at"] - now, 1)
    return rows


def describe(record: Any) -> str:
    """One event, in a few words."""
    d = record.data
    kind = record.type
    if kind == "task.state_changed":
        return f"{d['id']}: {d['from_state']} -> {d['to_state']}" + (f" ({d['reason']})" if d.get("reason") else "")
    if kind == "task.assigned":
        return f"{d['id']} -> {d['agent']} (token {d['token']}, attempt {d['attempt']})"
    if kind in ("lease.renewed", "lease.released", "lease.expired"):
        return f"{d['id']} token {d['token']}" + (f": {d['reason']}" if d.get("reason") else "")
    if kind == "task.checkpointed":
        return f"{d['id']} by {d.get('by') or '?'}: {d.get('notes', '')}"
    if kind.startswith("agent."):
        return d["agent"] + (f" ({d['reason']})" if d.get("reason") else "")
    text = json.dumps(d, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


def state(planner: Any, events: list[Any]) -> dict[str, Any]:
    """The frame as plain data: progress, counts, agents (:func:`agents_view`), ``events``."""
    planner.refresh()
    graph = planner.graph
    counts = {str(k): n for k, n in sorted(graph.counts.items()) if n}
    leaves = sum(counts.values())
    completed = counts.get("completed", 0)
    return {
        "project": graph.name, "mode": graph.mode, "seq": graph.seq,
        "progress": {"completed": completed, "leaves": leaves,
                     "fraction": round(completed / leaves, 4) if leaves else 1.0},
        "leaves_by_state": counts, "ready": len(graph.ready), "held": len(graph.agents.leases),
        "agents": agents_view(planner),
        "events": [{"seq": r.seq, "ts": r.ts, "type": r.type, "text": describe(r)} for r in events],
    }


def render(frame: dict[str, Any], width: int = 100) -> Any:
    """The frame for people (a rich renderable), its long texts cut to fit ``width`` columns."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    progress = frame["progress"]
    states = ", ".join(f"{n} {k}" for k, n in frame["leaves_by_state"].items()) or "no tasks"
    head = Text(f"{frame['project']} ({frame['mode']}), seq {frame['seq']}: {progress['completed']}/"
                f"{progress['leaves']} leaves completed; {states}; {frame['ready']} ready, {frame['held']} held")
    bar = ProgressBar(total=max(progress["leaves"], 1), completed=progress["completed"], width=min(60, width))
    agents = Table("agent", "health", "load", "leases", title="agents", title_justify="left")
    rows = [[a["id"], a["health"], f"{len(a['leases'])}/{a['capacity']}, effort {a['effort_held']:g}",
             ", ".join(f"{x['task']} (expires in {x['expires_in']:.0f} s, attempt {x['attempt']})"
                       for x in a["leases"]) or "-"] for a in frame["agents"]]
    for row in _fit(rows, width):
        agents.add_row(*row)
    events = Table("seq", "time", "event", "", title="latest events", title_justify="left")
    for row in _fit([[str(e["seq"]), e["ts"][11:19], e["type"], e["text"]] for e in frame["events"]], width):
        events.add_row(*row)
    return Group(head, bar, agents, events)


def _fit(rows: list[list[str]], width: int) -> list[list[str]]:
    """Cut the last column so that each row fits on one line of ``width`` (a table's borders and
    padding take 3 columns per column, plus 1)."""
    if not rows:
        return rows
    fixed = sum(max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1))
    room = max(12, width - fixed - 3 * len(rows[0]) - 2)
    return [[*r[:-1], r[-1] if len(r[-1]) <= room else r[-1][:room - 3] + "..."] for r in rows]


def watch(planner: Any, once: bool, json_mode: bool, shown: int = 10, stop_event: Any = None) -> dict[str, Any]:
    """Print one frame (``once``), or redraw live until Ctrl-C / ``stop_event``; the last frame."""
    from .errors import DomainError

    if json_mode and not once:
        raise DomainError("watch --json needs --once (one frame as JSON); the live view is for people")
    last = planner.log.last_seq
    recent: deque[Any] = deque(planner.log.read(max(1, last - shown + 1)) if last else (), maxlen=shown)
    frame = state(planner, list(recent))
    if once:
        return frame
    from rich.live import Live

    seq = frame["seq"] if not recent else recent[-1].seq
    timeout = 1.0
    live = Live(auto_refresh=False, redirect_stdout=False, redirect_stderr=False)
    live.update(render(frame, live.console.width))
    with live:
        try:
            while stop_event is None or not stop_event.is_set():
                got, drawn = False, time.monotonic()
                for record in planner.log.follow(seq + 1, timeout=timeout, stop_event=stop_event):
                    recent.append(record)
                    seq, got = record.seq, True
                    if time.monotonic() - drawn >= 0.1:
                        break
                frame = state(planner, list(recent))
                live.update(render(frame, live.console.width), refresh=True)
                timeout = 0.1 if got else 1.0  # after a burst, look again soon for its tail
        except KeyboardInterrupt:
            pass
    return frame
