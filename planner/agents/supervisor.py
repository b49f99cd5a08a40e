"""``planner work``: start N worker processes and keep them going.

Each worker (:mod:`planner.agents.worker`) is one agent, ``PREFIX-1`` .. ``PREFIX-N``,
in a process of its own. The supervisor:

* **starts them fast.** It imports the planner once (the engine, the event
  models, watchfiles: about 150 ms of a Python process's start) and then
  ``fork``\\s each worker from itself, so a worker is running its loop within
  milliseconds instead of after its own imports: 20 workers are registered in
  well under a second on two cores. The supervisor is single-threaded (the
  live table is redrawn by the main loop, not by a thread), which is what makes
  forking it safe; a child resets the signal handlers, points its stdout and
  stderr at a pipe the supervisor reads (so a worker's messages and tracebacks
  show up above the table, or as JSON lines on stderr with ``--json``), and
  asks the kernel for SIGTERM when the supervisor dies (Linux).
* **restarts a worker that dies** (a crash, ``kill -9``, the memory limit) with
  exponential backoff (``backoff x 2^(crashes-1)``, capped), at most
  ``max_restarts`` times per agent, after first settling what the dead worker
  held: each of its leases is ended as a failed attempt whose reason says how the
  worker died (the task goes back to pending while it has attempts left, keeping
  its checkpoint, so the next agent resumes from it), then the agent is
  deregistered. Nobody has to wait for the leases to expire.
* **measures** every worker and its commands each ``refresh`` seconds
  (psutil: CPU % and RSS), shows them live (rich, people only), and SIGKILLs a
  worker whose RSS, with its commands', is over ``memory_limit_mb`` (saying so).
  Note that a worker's RSS includes the ~40 MB of interpreter and planner it
  shares with the supervisor copy-on-write.
* **stops everything** on SIGTERM / SIGINT / SIGHUP (a second Ctrl-C does not wait):
  SIGTERM to the workers, which stop their commands (process groups), give
  their tasks back and deregister; after ``grace`` seconds SIGKILL for what is
  left, workers and their commands' process groups. On Linux the supervisor is a
  child subreaper (``PR_SET_CHILD_SUBREAPER``), so a command orphaned by a dead
  worker becomes its child, and is killed and reaped too: when it returns, no
  process it started, directly or not, is left.
* with ``until_idle``, stops once no task its agents could do is ready and no
  task is held by anyone. It looks when a worker says it ran out of work (a
  SIGUSR1 from the worker, sent when its last job ended and it found nothing to
  claim), so the run ends right after its last task, and on every ``refresh``
  tick (for tasks held by agents of other processes).

It never polls the log: it wakes on signals (SIGCHLD, SIGTERM, a worker's
SIGUSR1, through ``signal.set_wakeup_fd``), on worker output, and on its ``refresh`` tick
(sampling CPU needs a clock). Per tick: O(workers) psutil reads, one scan of
the process table in ``--exec`` mode (to find the commands), and a lock-free
fold of the new events.

Exit status (:attr:`Supervisor.exit_code`): 0; 1 when something went wrong (an
agent crashed more than ``max_restarts`` times, a worker went over the memory
limit or was deregistered by someone else, tasks were left failed or undone
at idle); 128 + the signal number when stopped by a signal.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from planner.agents.simulate import Simulation

MB = 1024 * 1024


@dataclass(frozen=True)
class WorkOptions:
    """``planner work``'s options. ``command`` is the template; None with ``simulation``.
    ``capabilities`` None: every capability the project's tasks require."""

    home: str
    project: str
    agents: int
    command: str | None = None
    simulation: Simulation | None = None
    capabilities: tuple[str, ...] | None = None
    capacity: int = 1
    ttl: float | None = None
    timeout: float | None = None
    memory_limit_mb: float | None = None
    until_idle: bool = False
    prefix: str = "agent"
    max_restarts: int = 5
    backoff: float = 0.5
    backoff_cap: float = 30.0
    grace: float = 5.0
    refresh: float = 1.0
    output_dir: str | None = None
    journal_dir: str | None = None  # each agent journals its acknowledged commands to DIR/AGENT.jsonl


class _Slot:
    """One agent: the worker process currently running it, and its history."""

    def __init__(self, index: int, agent: str):
        self.index, self.agent = index, agent
        self.pid: int | None = None
        self.proc: psutil.Process | None = None
        self.fd: int | None = None
        self.buffer = b""
        self.state = "starting"  # running, restarting, stopping, stopped, given up, retired
        self.starts = self.crashes = self.memory_stops = 0
        self.restart_at = 0.0
        self.memory_kill: str | None = None
        self.last_exit: str | None = None
        self.cpu = 0.0
        self.rss = 0
        self.max_rss = 0
        self.descendants: dict[int, psutil.Process] = {}


class Supervisor:
    """See the module docstring. ``say(event, agent, message, fields)`` is told what happens
    (started, exited, restarting, memory, output, ...); ``display`` builds the live table
    (rich; None without one)."""

    def __init__(self, options: WorkOptions, say: Callable[[str, str | None, str, dict[str, Any]], None],
                 display: Any = None):
        from planner.domain.errors import DomainError

        o = options
        if o.agents < 1:
            raise DomainError(f"--agents must be at least 1, not {o.agents}")
        if (o.command is None) == (o.simulation is None):
            raise DomainError("give either --exec 'COMMAND TEMPLATE' or --simulate")
        for name, value in (("--refresh", o.refresh), ("--backoff", o.backoff), ("--grace", o.grace)):
            if not value > 0:
                raise DomainError(f"{name} must be > 0 seconds, not {value!r}")
        if o.memory_limit_mb is not None and not o.memory_limit_mb > 0:
            raise DomainError(f"--memory-limit must be > 0 MB, not {o.memory_limit_mb!r}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,100}", o.prefix):
            raise DomainError(f"--prefix {o.prefix!r} cannot start an agent name: use letters, digits and . _ : - "
                              "(starting with a letter or digit)")
        if o.max_restarts < 0:
            raise DomainError(f"--max-restarts must be >= 0, not {o.max_restarts}")
        self.options = o
        self.say = say
        self.display = display
        self.slots = [_Slot(i, f"{o.prefix}-{i}") for i in range(1, o.agents + 1)]
        self.problems: list[str] = []
        self.stopped_by = ""
        self.exit_code = 0
        self.capabilities: tuple[str, ...] = ()
        self.max_rss = 0
        self.service: Any = None  # planner.service.service.Service: all the supervisor asks and tells
        self._by_pid: dict[int, _Slot] = {}
        self._signals: list[int] = []
        self._idle_hint = False  # a worker ran out of work (SIGUSR1) since the last look
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self._me = psutil.Process()
        self._foreign: set[int] = set()
        self._subreaper = False
        self._started = 0.0

    # -- the whole run ---------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Start the workers, supervise them until stopped; the summary (see :meth:`summary`)."""
        from planner.service.opening import open_service

        o = self.options
        self._started = time.monotonic()
        self.service = open_service(o.home, o.project)
        try:
            self._check_project()
            if o.command is not None:
                from planner.agents.worker import check_template

                check_template(o.command)
            self._preload()
            self._foreign = {child.pid for child in self._me.children()}
            self._subreaper = _become_subreaper()
            old = self._install_signals()
            try:
                if self.display is not None:
                    self.display.start(self)
                for slot in self.slots:
                    self._spawn(slot)
                self._loop()
            finally:
                self._shutdown()
                if self.display is not None:
                    self.display.stop(self)
                _restore_signals(old)
            return self.summary()
        finally:
            self.service.close(archive=True)  # a clean shutdown: what the agents did goes to git
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _check_project(self) -> None:
        from planner.domain.errors import DomainError

        o, s = self.options, self.service
        status = s.status()
        if status["mode"] != "working" and o.until_idle:
            raise DomainError(f"project {o.project} is in planning mode, where claims are paused: "
                              "run `planner mode working` first")
        if o.capabilities is None:
            self.capabilities = tuple(s.capabilities())
        else:
            self.capabilities = tuple(o.capabilities)
        now = time.time()
        for slot in self.slots:
            known = s.agent(slot.agent)
            if known is None or not known["active"]:
                continue
            silent = now - known["last_seen"]
            if silent < status["lease_ttl"]:
                raise DomainError(f"agent {slot.agent} is registered and was heard from {silent:.0f} s ago: is "
                                  f"another `planner work --prefix {o.prefix}` running? Choose another --prefix, "
                                  f"or `planner agent deregister {slot.agent}`")
            s.deregister_agent(slot.agent, reason=f"taken over by a new `planner work` (silent for {silent:.0f} s)")

    @staticmethod
    def _preload() -> None:
        """Import what every worker needs, once, before forking them (the point of forking)."""
        import subprocess  # noqa: F401
        import tempfile  # noqa: F401

        import eventstore.archive_marks  # noqa: F401
        import eventstore.follow  # noqa: F401
        from planner.agents import simulate, worker  # noqa: F401
        from planner.domain import decide, events, leasing  # noqa: F401

    # -- processes ---------------------------------------------------------------------
    def _spawn(self, slot: _Slot) -> None:
        from planner.agents.worker import EXIT_ERROR

        r, w = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            code = EXIT_ERROR
            try:
                code = self._child(slot, r, w)
            except BaseException:  # noqa: B036 - whatever happens, this process must not go on as the supervisor
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        os.close(w)
        os.set_blocking(r, False)
        slot.pid, slot.fd, slot.buffer = pid, r, b""
        slot.state, slot.memory_kill = "running", None
        slot.starts += 1
        slot.descendants = {}
        self._by_pid[pid] = slot
        self._selector.register(r, selectors.EVENT_READ, slot)
        try:
            slot.proc = psutil.Process(pid)
            slot.proc.cpu_percent(None)
        except psutil.NoSuchProcess:
            slot.proc = None
        self.say("started", slot.agent, f"{slot.agent} started (pid {pid})", {"pid": pid, "start": slot.starts})

    def _child(self, slot: _Slot, r: int, w: int) -> int:
        """In the forked worker: a clean process state, then the worker's loop."""
        from planner.agents.worker import WorkerConfig, run_worker

        parent = os.getppid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        os.close(r)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(null)
        os.close(w)
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # not a display's proxies
        _die_with_parent()
        if os.getppid() != parent:
            return 0  # the supervisor died before the request was in place
        o = self.options
        return run_worker(WorkerConfig(
            home=o.home, project=o.project, agent=slot.agent, command=o.command, simulation=o.simulation,
            capabilities=self.capabilities, capacity=o.capacity, ttl=o.ttl, timeout=o.timeout,
            grace=max(0.5, o.grace - 1.0), output_dir=o.output_dir, journal_dir=o.journal_dir,
            notify_pid=parent if o.until_idle else None))

    def _install_signals(self) -> dict[int, Any]:
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        old = {sig: signal.getsignal(sig)
               for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1)}
        old[-1] = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # the wake-up byte is what matters
        signal.signal(signal.SIGUSR1, self._on_idle_hint)
        return old

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals.append(signum)

    def _on_idle_hint(self, signum: int, frame: Any) -> None:
        self._idle_hint = True  # a worker ran out of work: the loop looks whether everyone has

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal, worker output or ``timeout``; read what arrived, reap the dead."""
        for key, _ in self._selector.select(max(timeout, 0.0)):
            if key.data is None:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            else:
                self._read(key.data)
        self._reap()

    def _read(self, slot: _Slot, final: bool = False) -> None:
        """Relay the worker's output, line by line."""
        if slot.fd is None:
            return
        eof = False
        while True:
            try:
                chunk = os.read(slot.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            slot.buffer += chunk
        *lines, slot.buffer = slot.buffer.split(b"\n")
        if final and slot.buffer:
            lines, slot.buffer = [*lines, slot.buffer], b""
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self.say("output", slot.agent, f"{slot.agent}: {text}", {})
        if eof or final:
            self._selector.unregister(slot.fd)
            os.close(slot.fd)
            slot.fd = None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = self._by_pid.pop(pid, None)
            if slot is not None:
                self._exited(slot, status)
            # else: an orphan of a dead worker's command (we are its subreaper): reaped

    def _exited(self, slot: _Slot, status: int) -> None:
        from planner.agents.worker import EXIT_DEREGISTERED

        self._read(slot, final=True)
        code = os.waitstatus_to_exitcode(status)
        how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
        pid, slot.pid, slot.proc = slot.pid, None, None
        slot.last_exit = how
        self._kill_leftovers(slot)
        if slot.state == "stopping" or self._signals:
            slot.state = "stopped"
            if code != 0:  # it could not give its tasks back itself
                self._settle(slot.agent, f"worker {slot.agent} (pid {pid}) {how} while stopping", failed=False)
            return
        if code == EXIT_DEREGISTERED:
            slot.state = "retired"
            self.problems.append(f"{slot.agent} was deregistered by someone else and stopped")
            self.say("retired", slot.agent, f"{slot.agent} was deregistered by someone else: not restarted", {})
            return
        why = slot.memory_kill or how
        reason = f"worker {slot.agent} (pid {pid}) {why}"
        held = self._settle(slot.agent, reason, failed=True)
        if held:
            reason += f"; its lease{'s' if len(held) > 1 else ''} on {', '.join(held)} ended as a failed attempt"

        slot.crashes += 1
        o = self.options
        if slot.crashes > o.max_restarts:
            slot.state = "given up"
            self.problems.append(f"{slot.agent} died {slot.crashes} times (more than --max-restarts "
                                 f"{o.max_restarts}); last: {why}")
            self.say("given up", slot.agent, f"{reason}; not restarted: it died {slot.crashes} times "
                     f"(--max-restarts {o.max_restarts})", {"exit": how})
            return
        delay = min(o.backoff * 2 ** (slot.crashes - 1), o.backoff_cap)
        slot.state, slot.restart_at = "restarting", time.monotonic() + delay
        self.say("restarting", slot.agent, f"{reason}; restarting in {delay:g} s", {"exit": how, "delay": delay})

    def _settle(self, agent: str, reason: str, failed: bool) -> list[str]:
        """What a dead worker held: each lease ended (as a failed attempt when ``failed``: back
        to pending while attempts are left), then the agent deregistered. Refusals (the lease
        expired meanwhile, the agent is gone already) are fine: someone settled it first."""
        from planner.domain.errors import DomainError

        s = self.service
        known = s.agent(agent)
        if known is None:
            return []
        # its leases as they are now: a token, not "whoever holds the task later", which
        # after an expiry and a claim between two of our commands would be another agent
        held = {lease["task"]: lease["token"] for lease in known["leases"]}
        if failed:
            for task, token in held.items():
                try:  # (a stale token, if it expired meanwhile, is refused and changes nothing)
                    s.set_state(task, "failed", reason=reason, token=token, by="supervisor")
                except DomainError:
                    pass
        try:
            s.deregister_agent(agent, reason=reason)
        except DomainError:
            pass
        return list(held)

    def _kill_leftovers(self, slot: _Slot) -> None:
        """SIGKILL the dead worker's commands: those seen under it at the last sample, and every
        child of ours that is not a worker (orphans the kernel handed us, as subreaper)."""
        doomed = list(slot.descendants.values())
        if self._subreaper:
            workers = set(self._by_pid)
            try:
                doomed += [c for c in self._me.children() if c.pid not in workers and c.pid not in self._foreign]
            except psutil.Error:
                pass
        _kill_all(doomed)
        slot.descendants = {}

    # -- the loop ------------------------------------------------------------------------
    def _loop(self) -> None:
        o = self.options
        next_tick = time.monotonic()
        while True:
            now = time.monotonic()
            restarts = [s.restart_at for s in self.slots if s.state == "restarting"]
            self._wait(min([next_tick, *restarts]) - now)
            if self._signals:
                self.stopped_by = f"signal {_signal_name(self._signals[0])}"
                self.say("stopping", None, f"{_signal_name(self._signals[0])}: stopping every worker", {})
                return
            now = time.monotonic()
            if self._idle_hint and o.until_idle:
                self._idle_hint = False  # (before looking: a hint that arrives during the look is kept)
                if self._idle():
                    self.stopped_by = "idle"
                    return
            if now >= next_tick:
                next_tick = now + o.refresh
                self._sample()
                if o.until_idle and self._idle():
                    self.stopped_by = "idle"
                    return
                if self.display is not None:
                    self.display.update(self)
            for slot in self.slots:
                if slot.state == "restarting" and slot.restart_at <= now:
                    self._spawn(slot)
            if not any(s.state in ("running", "restarting") for s in self.slots):
                self.stopped_by = "no worker left"
                return

    def _idle(self) -> bool:
        """No task is held, and none that these agents could do is ready (or nothing can be
        claimed at all: the project was switched to planning mode)."""
        outlook = self.service.outlook(self.capabilities)  # one consistent state: two queries could
        if outlook["held"]:                                 # miss a task claimed between them
            return False
        return outlook["mode"] != "working" or not outlook["fits"]

    def _sample(self) -> None:
        """CPU % and RSS of every worker with its commands; the memory limit."""
        o = self.options
        try:
            self.max_rss = max(self.max_rss, self._me.memory_info().rss)
        except psutil.Error:
            pass
        tree = _children_map() if o.command is not None else {}
        for slot in self.slots:
            if slot.proc is None or slot.state != "running":
                continue
            try:
                with slot.proc.oneshot():
                    cpu, rss = slot.proc.cpu_percent(None), slot.proc.memory_info().rss
            except psutil.Error:
                continue
            found: dict[int, psutil.Process] = {}
            stack = list(tree.get(slot.pid, ()))
            while stack:
                proc = stack.pop()
                found[proc.pid] = slot.descendants.get(proc.pid, proc)
                stack += tree.get(proc.pid, ())
            for proc in found.values():
                try:
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                except psutil.Error:
                    pass
            slot.descendants, slot.cpu, slot.rss = found, cpu, rss
            slot.max_rss = max(slot.max_rss, rss)
            limit = o.memory_limit_mb
            if limit is not None and rss > limit * MB and slot.memory_kill is None:
                slot.memory_kill = (f"was stopped: its memory ({rss / MB:.0f} MB with its commands) went over "
                                    f"the {limit:g} MB limit")
                slot.memory_stops += 1
                self.problems.append(f"{slot.agent} {slot.memory_kill}")
                self.say("memory", slot.agent, f"{slot.agent} (pid {slot.pid}) {slot.memory_kill}",
                         {"rss_mb": round(rss / MB, 1), "limit_mb": limit})
                _kill_all([slot.proc, *found.values()])

    def _shutdown(self) -> None:
        """SIGTERM the workers, wait ``grace``, SIGKILL the rest and everything under us; reap all."""
        alive = [s for s in self.slots if s.pid is not None]
        for slot in self.slots:
            if slot.state == "restarting":
                slot.state = "stopped"
        for slot in alive:
            slot.state = "stopping"
            try:
                os.kill(slot.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.options.grace
        handled = len(self._signals)
        while any(s.pid is not None for s in self.slots) and time.monotonic() < deadline:
            self._wait(deadline - time.monotonic())
            if len(self._signals) > max(handled, 1):  # asked again (a second Ctrl-C): do not wait
                break
        late = [s for s in self.slots if s.pid is not None]
        for slot in late:
            self.say("killed", slot.agent, f"{slot.agent} did not stop within {self.options.grace:g} s: killed", {})
            _kill_all([slot.proc, *slot.descendants.values()] if slot.proc else list(slot.descendants.values()))
        for slot in late:
            if slot.pid is not None:
                pid = slot.pid
                try:
                    _, status = os.waitpid(pid, 0)
                except ChildProcessError:
                    status = 0
                self._by_pid.pop(pid, None)
                self._exited(slot, status)
        try:
            rest = [c for c in self._me.children(recursive=True) if c.pid not in self._foreign]
        except psutil.Error:
            rest = []
        _kill_all(rest)
        psutil.wait_procs(rest, timeout=self.options.grace)
        self._reap()

    # -- results -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What happened: how it stopped, each agent's starts, crashes, memory, and the tasks."""
        stats = self.service.status()
        by_state = stats["leaves_by_state"]
        problems = list(self.problems)
        if self.options.until_idle and self.stopped_by == "idle":
            undone = {k: v for k, v in by_state.items() if k not in ("completed", "cancelled")}
            if undone:
                problems.append("tasks left undone: " + ", ".join(f"{n} {k}" for k, n in sorted(undone.items())))
        code = 1 if problems else 0
        if self.stopped_by.startswith("signal") and self._signals:
            code = 128 + self._signals[0]
        self.exit_code = code
        return {
            "project": self.options.project, "agents": len(self.slots), "stopped_by": self.stopped_by,
            "seconds": round(time.monotonic() - self._started, 3), "exit_code": code, "problems": problems,
            "tasks": by_state, "capabilities": list(self.capabilities),
            "supervisor_max_rss_mb": round(self.max_rss / MB, 1),
            "workers": [{"agent": s.agent, "state": s.state, "starts": s.starts, "crashes": s.crashes,
                         "memory_stops": s.memory_stops, "last_exit": s.last_exit,
                         "max_rss_mb": round(s.max_rss / MB, 1)} for s in self.slots],
        }


class LiveTable:
    """The human display: a rich Live table redrawn by the supervisor's loop (no thread),
    and messages printed above it."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console()
        self.live: Any = None

    def start(self, sup: Supervisor) -> None:
        from rich.live import Live

        self.live = Live(self._table(sup), console=self.console, auto_refresh=False, redirect_stdout=False,
                         redirect_stderr=False)
        self.live.start()

    def update(self, sup: Supervisor) -> None:
        if self.live is not None:
            self.live.update(self._table(sup), refresh=True)

    def stop(self, sup: Supervisor) -> None:
        if self.live is not None:
            self.live.update(self._table(sup), refresh=True)
            self.live.stop()
            self.live = None
            if not self.console.is_terminal:
                self.console.line()  # (a file gets the last table without its line end)

    def message(self, text: str) -> None:
        (self.live.console if self.live is not None else self.console).print(text, markup=False, highlight=False)

    def _table(self, sup: Supervisor) -> Any:
        from rich.table import Table

        status = sup.service.status()
        progress = status["progress"]
        title = (f"{sup.options.project}: {progress['completed']}/{progress['leaves']} done, {status['ready']} ready, "
                 f"{status['held']} held; supervisor {sup.max_rss / MB:.0f} MB")
        table = Table("agent", "pid", "state", "task (its lease's time left)", "CPU %", "RSS MB", "restarts",
                      title=title)
        agents = {a["id"]: a for a in sup.service.agents()}
        for s in sup.slots:
            agent = agents.get(s.agent)
            held = agent["leases"] if agent is not None and agent["active"] else []
            tasks = ", ".join(f"{x['task']} ({x['expires_in']:.0f} s left)" for x in held) or "-"
            running = s.state == "running"
            table.add_row(s.agent, str(s.pid or "-"), s.state, tasks, f"{s.cpu:.0f}" if running else "-",
                          f"{s.rss / MB:.0f}" if running else "-", str(s.crashes))
        return table


def run_work(options: WorkOptions, json_mode: bool, lines: bool = False) -> dict[str, Any]:
    """``planner work``: supervise until stopped; the summary (``exit_code`` in it).
    Human mode shows the live table; ``lines``, one timestamped line per happening instead;
    ``json_mode`` prints one JSON line per happening on stderr."""
    if json_mode:
        import json

        def say(event: str, agent: str | None, message: str, fields: dict[str, Any]) -> None:
            line = {"event": event, "agent": agent, "message": message, **fields}
            sys.stderr.write(json.dumps(line) + "\n")
            sys.stderr.flush()

        return Supervisor(options, say).run()
    if lines:
        return _run_with_lines(options)
    display = LiveTable()
    return Supervisor(options, lambda event, agent, message, fields: display.message(message), display).run()


def _run_with_lines(options: WorkOptions) -> dict[str, Any]:
    """``planner work --lines``: the supervisor's happenings and, from the log, every event the
    agents write (claims, checkpoints, completions, expiries), one timestamped line each."""
    import threading

    from planner.service.opening import open_service

    printing = threading.Lock()

    def line(text: str) -> None:
        with printing, contextlib.suppress(BrokenPipeError):  # (piped into head: the reader left)
            print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

    done = threading.Event()
    with open_service(options.home, options.project, server=False) as log:
        start = log.last_seq() + 1

        def follow() -> None:
            for event in log.follow(start, stop_event=done):
                line(f"{event['type']:<20} {event['text']}")

        follower = threading.Thread(target=follow, name="lines", daemon=True)
        follower.start()
        try:
            return Supervisor(options, lambda event, agent, message, fields: line(message)).run()
        finally:
            done.set()
            follower.join(5)


# -- process helpers ---------------------------------------------------------------------
def _children_map() -> dict[int, list[psutil.Process]]:
    """ppid -> its children, from one scan of the process table."""
    tree: dict[int, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["ppid"]):
        tree.setdefault(proc.info["ppid"], []).append(proc)
    return tree


def _kill_all(procs: list[Any]) -> None:
    """SIGKILL each process and its process group when it leads one of its own (a command),
    never our own group. psutil checks that a pid still names the same process."""
    ours = os.getpgrp()
    for proc in procs:
        if proc is None:
            continue
        try:
            if not proc.is_running():
                continue
            group = os.getpgid(proc.pid)
            if group == proc.pid and group != ours:
                os.killpg(group, signal.SIGKILL)
            else:
                proc.kill()
        except (psutil.Error, ProcessLookupError, PermissionError):
            pass


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _become_subreaper() -> bool:
    """Linux: orphans of our descendants become our children (PR_SET_CHILD_SUBREAPER)."""
    return _prctl(36, 1)


def _die_with_parent() -> bool:
    """Linux: SIGTERM this process when its parent dies (PR_SET_PDEATHSIG)."""
    return _prctl(1, signal.SIGTERM)


def _restore_signals(old: dict[int, Any]) -> None:
    signal.set_wakeup_fd(old.pop(-1))
    for sig, handler in old.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
