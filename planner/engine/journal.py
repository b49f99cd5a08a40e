"""An agent's journal of acknowledged commands: what the planner told it, one JSON line each.

``Planner.open(..., journal=PATH)`` (``planner work --journal-dir DIR``: one
journal per agent) gives every command that has no ``command_id`` a fresh
one, and once the command is acknowledged (appended and flushed as the
durability mode promises) and wrote events, appends::

    {"cmd": ID, "what": "Claim", "expect": [{"type": "task.assigned", "id": .., "agent": .., "token": ..}, ..]}

The line is written with one ``os.write`` on an ``O_APPEND`` descriptor after
the acknowledgement, so a process killed at any moment leaves only whole
lines for commands that were acknowledged (or a last line cut short, which
readers skip). ``stress.verify`` checks every line against the log: each
command id must be there, with the events the agent was told of. O(1) per
command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: the fields of an event an agent acts on, and so the ones the journal records
_SALIENT = ("id", "agent", "token", "to_state", "task", "depends_on")


class Journal:
    """Append-only journal lines; see the module docstring."""

    def __init__(self, path: os.PathLike | str):
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def ack(self, cmd: str, what: str, expect: list[dict[str, Any]] = ()) -> None:
        line = json.dumps({"cmd": cmd, "what": what, "expect": list(expect)}, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode())

    def ack_events(self, cmd: str, what: str, events: list[Any]) -> None:
        """Journal a command with the salient fields of the events it wrote."""
        self.ack(cmd, what, [{"type": e.type, **{k: str(getattr(e, k)) if k == "to_state" else getattr(e, k)
                                                 for k in _SALIENT if getattr(e, k, None) is not None}}
                             for e in events])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
