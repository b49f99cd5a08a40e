"""The whole-file JSON peer of an agent's guarded transitions, for ``python -m stress.transitions``.

How the original super-planner kept a project: one JSON file in the fixture
format, read whole and written whole (:mod:`stress.peers.json_file_plan`).
Here several agent processes change it at once, so every command is::

    flock(<file>.lock, LOCK_EX)                 # one writer at a time (a kernel queue, like the log's lock)
    json.load(the whole file)                   # O(file): every task
    decide                                      # claim: a scan for the best pending task, O(n)
    json.dump to <file>.tmp, fsync, rename over the file, fsync the directory
    unlock

which is the same durability promise as the planner's ``durability="always"``
(the rename is durable once the directory is flushed). Each task carries its
``status``, and, while leased, ``agent`` and ``token``; the file also holds
the token counter, each agent's held count and every grant (``claims``, for
:func:`check`). The three transitions mirror :mod:`stress.peers.sqlite_claims`
(claim: pending -> assigned with a fresh token; start: assigned -> in_progress
under that token; complete: in_progress -> completed, the agent's slot back),
with the same simplified semantics: no dependencies, capabilities, expiry or
attempts. Cost per command: O(file size) to parse and to write, plus an fsync
of the whole file.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class StaleToken(Exception):
    """The task is not held under this token (the fencing check refused the command)."""


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create(path: str | Path, fixture: dict[str, Any]) -> int:
    """The file for fixture-format data (leaves only), written durably; return the task count."""
    tasks = [{"id": t["id"], "name": t.get("name", t["id"]), "status": t.get("status", "pending"),
              "priority": t.get("priority", "medium"), "estimated_effort": t.get("estimated_effort", 1.0)}
             for t in fixture["tasks"]]
    _write(Path(path), {"project": fixture["project"], "tasks": tasks, "agents": {}, "last_token": 0, "claims": []})
    return len(tasks)


class JsonFileClaimer:
    """One agent's side: :meth:`register`, then :meth:`claim`, :meth:`start`, :meth:`complete`."""

    def __init__(self, path: str | Path, agent: str):
        self.path = Path(path)
        self.agent = agent
        self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)

    def _locked(self, change) -> Any:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            result, dirty = change(data)
            if dirty:
                _write(self.path, data)
            return result
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def register(self, capacity: int = 1) -> None:
        def change(data):
            data["agents"][self.agent] = {"capacity": capacity, "held": 0}
            return None, True

        self._locked(change)

    def claim(self) -> tuple[str, int] | None:
        """Lease the best pending task: ``(task, token)``, or None when the agent is full or
        nothing is pending. One durable rewrite of the file."""
        def change(data):
            me = data["agents"][self.agent]
            if me["held"] >= me["capacity"]:
                return None, False
            best, best_key = None, None
            for i, task in enumerate(data["tasks"]):
                if task["status"] == "pending":
                    key = (-PRIORITY_RANK[task["priority"]], i)
                    if best_key is None or key < best_key:
                        best, best_key = task, key
            if best is None:
                return None, False
            data["last_token"] += 1
            token = data["last_token"]
            best.update(status="assigned", agent=self.agent, token=token)
            me["held"] += 1
            data["claims"].append([token, best["id"], self.agent])
            return (best["id"], token), True

        return self._locked(change)

    def _move(self, task_id: str, token: int, before: str, after: str, free: bool) -> None:
        def change(data):
            task = next((t for t in data["tasks"] if t["id"] == task_id), None)
            if task is None or task.get("token") != token or task["status"] != before:
                raise StaleToken(f"{task_id} is not {before} under token {token}")
            task["status"] = after
            if free:
                data["agents"][self.agent]["held"] -= 1
            return None, True

        self._locked(change)

    def start(self, task: str, token: int) -> None:
        """``assigned`` -> ``in_progress`` under ``token``, else :class:`StaleToken`."""
        self._move(task, token, "assigned", "in_progress", free=False)

    def complete(self, task: str, token: int) -> None:
        """``in_progress`` -> ``completed`` under ``token`` and the agent's slot freed, else :class:`StaleToken`."""
        self._move(task, token, "in_progress", "completed", free=True)

    def pending(self) -> int:
        """Tasks still pending (lock-free read of the last whole file)."""
        with open(self.path, encoding="utf-8") as f:
            return sum(1 for t in json.load(f)["tasks"] if t["status"] == "pending")

    def close(self) -> None:
        os.close(self._lock_fd)


def check(path: str | Path, claimed: list[tuple[str, int, str]], done: list[tuple[str, int]]) -> list[str]:
    """Problems after a run in which tasks only go forward: the same checks as
    :func:`stress.peers.sqlite_claims.check` (no task granted twice, tokens 1..N, every
    acknowledged claim a grant and every grant acknowledged, every acknowledged completion
    completed under its token and nothing else completed, nothing left held)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    grants = sorted((token, task, agent) for token, task, agent in data["claims"])
    states = {t["id"]: (t["status"], t.get("token")) for t in data["tasks"]}
    problems: list[str] = []
    twice = sorted(task for task, n in Counter(task for _, task, _ in grants).items() if n > 1)
    if twice:
        problems.append(f"{len(twice)} task(s) granted twice, e.g. {twice[:3]}")
    if [token for token, _, _ in grants] != list(range(1, len(grants) + 1)) or data["last_token"] != len(grants):
        problems.append(f"tokens are not 1..{len(grants)} (counter at {data['last_token']})")
    logged = {(task, token, agent) for token, task, agent in grants}
    acked = set(claimed)
    if acked - logged:
        problems.append(f"{len(acked - logged)} acknowledged claim(s) not in the file, e.g. {sorted(acked - logged)[:3]}")
    if logged - acked:
        problems.append(f"{len(logged - acked)} grant(s) nobody acknowledged, e.g. {sorted(logged - acked)[:3]}")
    wrong = [(task, token) for task, token in done if states.get(task) != ("completed", token)]
    if wrong:
        problems.append(f"{len(wrong)} acknowledged completion(s) not completed under their token, e.g. {wrong[:3]}")
    completed = sum(1 for status, _ in states.values() if status == "completed")
    if completed != len(done):
        problems.append(f"{completed} task(s) completed but {len(done)} completion(s) acknowledged")
    stuck = sorted(tid for tid, (status, _) in states.items() if status in ("assigned", "in_progress"))
    if stuck:
        problems.append(f"{len(stuck)} task(s) left assigned or in progress, e.g. {stuck[:3]}")
    held = [name for name, agent in data["agents"].items() if agent["held"]]
    if held:
        problems.append(f"{len(held)} agent(s) still hold a slot")
    return problems
