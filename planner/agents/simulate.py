"""A simulated agent: work that takes time, checkpoints half way, and sometimes fails or crashes.

``planner work --simulate`` runs workers whose jobs are :class:`SimulatedJob`
instead of a command: for the demo, the stress runners and the tests, where
what matters is the coordination (leases, renewals, retries, resuming from a
checkpoint, crashed workers), not the work.

One job, for a task of effort ``e`` hours:

* it lasts ``e x time_scale x U(0.5, 1.5)`` seconds (``time_scale`` seconds per
  effort hour), less the part a checkpoint says was already done;
* half way it records a checkpoint ``{"simulated": true, "progress": 0.5, "by": agent}``,
  so that whoever gets the task next (after a crash, a failure) resumes from
  there: only the remaining half is "worked", and the completion reason says
  whose checkpoint it resumed from;
* its outcome is drawn once: a crash with probability ``crash_rate`` (at a
  random instant, the worker SIGKILLs itself: no cleanup, no release, exactly
  like a real crash), a failure with probability ``fail_rate`` (reported as
  ``failed``, a retry while attempts are left), otherwise completed.

Every draw comes from ``random.Random("seed:task:attempt")``: the same seed
gives the same durations and outcomes for the same task and attempt, whichever
worker runs it. The job never sleeps itself: it states its next deadline and
the worker's loop wakes it then (:mod:`planner.agents.worker`). O(1) per call.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Simulation:
    """The simulated agents' parameters (``planner work --simulate``)."""

    time_scale: float = 0.05  # seconds of simulated work per effort hour
    fail_rate: float = 0.0  # probability that an attempt reports failure
    crash_rate: float = 0.0  # probability that an attempt kills its worker (SIGKILL)
    seed: int = 0

    def __post_init__(self) -> None:
        problems = [f"{name} must be between 0 and 1, not {value!r}"
                    for name, value in (("--fail-rate", self.fail_rate), ("--crash-rate", self.crash_rate))
                    if not 0.0 <= value <= 1.0]
        if self.fail_rate + self.crash_rate > 1.0:
            problems.append(f"--fail-rate + --crash-rate must be at most 1, not {self.fail_rate + self.crash_rate:g}")
        if not self.time_scale >= 0:
            problems.append(f"--time-scale must be >= 0 seconds per effort hour, not {self.time_scale!r}")
        if problems:
            from planner.domain.errors import DomainError

            raise DomainError("; ".join(problems))


class SimulatedJob:
    """One attempt at one task, simulated (see the module docstring).

    ``checkpoint(notes, data)`` records a checkpoint under the job's lease (the
    worker passes a function that does it). ``now`` is the worker's monotonic clock.
    """

    def __init__(self, sim: Simulation, task: dict[str, Any], attempt: int, agent: str,
                 checkpoint: Callable[[str, dict[str, Any]], None], now: float):
        rng = random.Random(f"{sim.seed}:{task['id']}:{attempt}")
        self.task, self.agent, self._checkpoint = task["id"], agent, checkpoint
        self.total = max(0.0, float(task.get("effort") or 0.0)) * sim.time_scale * rng.uniform(0.5, 1.5)
        saved = (task.get("checkpoint") or {}).get("data") or {}
        self.resumed_from = saved.get("by") if saved.get("simulated") else None
        done = float(saved.get("progress", 0.0)) if self.resumed_from is not None else 0.0
        self.progress = min(max(done, 0.0), 1.0)
        draw = rng.random()
        self.outcome = "crash" if draw < sim.crash_rate else (
            "failed" if draw < sim.crash_rate + sim.fail_rate else "completed")
        remaining = self.total * (1.0 - self.progress)
        self.started = now
        self.ends = now + remaining
        self.half = now + self.total * (0.5 - self.progress) if self.progress < 0.5 else None
        self.crash_at = now + rng.uniform(0.0, remaining) if self.outcome == "crash" else None

    def deadline(self) -> float:
        """The next instant :meth:`poll` has something to do."""
        return min(t for t in (self.crash_at, self.half, self.ends) if t is not None)

    def poll(self, now: float) -> tuple[str, str] | None:
        """Advance to ``now``: checkpoint, crash, or the outcome ``(state, reason)`` once over."""
        if self.crash_at is not None and now >= self.crash_at:
            os.kill(os.getpid(), signal.SIGKILL)  # a real crash: nothing after this line runs
        if self.half is not None and now >= self.half:
            self.half = None
            self._checkpoint(f"half way (simulated, by {self.agent})",
                             {"simulated": True, "progress": 0.5, "by": self.agent})
        if now < self.ends:
            return None
        resumed = f", resumed from the checkpoint of {self.resumed_from} at {self.progress:.0%}" \
            if self.resumed_from is not None else ""
        worked = now - self.started
        if self.outcome == "failed":
            return "failed", f"simulated failure after {worked:.2f} s{resumed}"
        return "completed", f"simulated work done in {worked:.2f} s{resumed}"

    def stop(self, grace: float, wait: Any) -> None:
        """Nothing runs outside the worker: stopping is immediate."""
