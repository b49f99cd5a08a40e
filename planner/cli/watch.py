"""``planner watch``: the project live, redrawn as events land.

One frame: a progress bar (completed leaves of all leaves), the agents (health,
load, the tasks they hold and when those leases run out) and the latest
events. ``state()`` is the same frame as plain data (``--json --once``).

Everything comes from the service (:mod:`planner.service.service`). Live, it
follows the log (``Service.follow``: watchfiles notifications, no polling of
the file) and redraws after each append, at most ten times a second during a
burst, and once a second when nothing happens (the expiry countdowns move). A
redraw folds the new events (lock-free, O(new events)) and renders O(agents +
leases + events shown).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any


def state(service: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The frame as plain data: the status (progress, counts), the agents with their health,
    and the latest ``events`` (EventViews)."""
    status = service.status()
    return {**{k: status[k] for k in ("project", "mode", "seq", "progress", "leaves_by_state", "ready", "held")},
            "agents": service.agents(), "events": [{k: e[k] for k in ("seq", "ts", "type", "text")} for e in events]}


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
             ", ".join(f"{x['task']} ({'expires in ' + format(x['expires_in'], '.0f') + ' s' if x['expires_in'] >= 0.5 else 'expired, not reaped yet'}, attempt {x['attempt']})"
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


def watch(service: Any, once: bool, json_mode: bool, shown: int = 10, stop_event: Any = None) -> dict[str, Any]:
    """Print one frame (``once``), or redraw live until Ctrl-C / ``stop_event``; the last frame."""
    from planner.domain.errors import DomainError

    if json_mode and not once:
        raise DomainError("watch --json needs --once (one frame as JSON); the live view is for people")
    recent: deque[Any] = deque(service.events(last=shown), maxlen=shown)
    frame = state(service, list(recent))
    if once:
        return frame
    if not sys.stdout.isatty():  # piped or redirected: no redrawing, one plain line per event as it comes
        return _lines(service, frame["seq"], stop_event)
    from rich.live import Live

    seq = frame["seq"] if not recent else recent[-1]["seq"]
    timeout = 1.0
    live = Live(auto_refresh=False, redirect_stdout=False, redirect_stderr=False)
    live.update(render(frame, live.console.width))
    with live:
        try:
            while stop_event is None or not stop_event.is_set():
                got, drawn = False, time.monotonic()
                for event in service.follow(seq + 1, timeout=timeout, stop_event=stop_event):
                    recent.append(event)
                    seq, got = event["seq"], True
                    if time.monotonic() - drawn >= 0.1:
                        break
                frame = state(service, list(recent))
                live.update(render(frame, live.console.width), refresh=True)
                timeout = 0.1 if got else 1.0  # after a burst, look again soon for its tail
        except KeyboardInterrupt:
            pass
    return frame


def _lines(service: Any, seq: int, stop_event: Any) -> dict[str, Any]:
    """``watch`` when stdout is not a terminal: ``SEQ TS TYPE TEXT`` per event appended from now
    on, flushed at once (for a log file or a pipe), until Ctrl-C / ``stop_event``."""
    print(f"watching from seq {seq + 1} (one line per event; Ctrl-C stops)", flush=True)
    try:
        while stop_event is None or not stop_event.is_set():
            for event in service.follow(seq + 1, timeout=1.0, stop_event=stop_event):
                seq = event["seq"]
                print(f"{seq:>7} {event['ts']} {event['type']:<22} {event['text']}", flush=True)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return state(service, list(service.events(last=10)))
