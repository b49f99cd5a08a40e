"""A worker: one agent process that claims ready tasks, works on them under leases, and reports.

``python -m planner.agents.worker HOME PROJECT --agent NAME (--exec 'TEMPLATE' | --simulate) [...]``
runs one in the foreground; ``planner work`` (:mod:`planner.agents.supervisor`) runs and
supervises many. The loop, in the main thread::

    register the agent
    until SIGTERM / SIGINT:
        jobs that ended: completed on success, failed with the tail of their output otherwise
        renew the running jobs' leases (asked every ttl/4; the engine writes one per ttl/2 at most)
        heartbeat (asked every ttl/4; written once per ttl/2 at most)
        while a slot is free (capacity) and a ready task fits (checked lock-free): claim, start a job
        if its last job just ended and nothing was claimed: tell the supervisor (SIGUSR1)
        wait until something happens: an append to the log, a child exiting, a signal,
            or the next deadline (a renewal, a command's timeout, the next lease due to expire)
    then: stop the jobs (their process groups), deregister (the tasks go back to pending)

Waiting never polls the log: a second thread follows it (``EventLog.follow``,
watchfiles) and wakes the loop through a pipe on every append; SIGCHLD and
SIGTERM wake it through the same pipe (``signal.set_wakeup_fd``). So an idle
worker costs what watchfiles costs (about 1 % of a core), and a task that
becomes ready is claimed within milliseconds.

A command job runs the template without a shell: ``shlex.split``, then
``{id} {title} {description} {effort}`` filled in per word (``{{id}}`` for a
literal ``{id}``), in its own process group (killed as a whole on timeout, on
stop, and when it exits: a finished task leaves nothing running), with the
task in its environment (``PLANNER_TASK_ID``, ``PLANNER_TASK_TITLE``,
``PLANNER_TASK_JSON`` (the task, its checkpoint and lease included),
``PLANNER_LEASE_TOKEN``, ``PLANNER_AGENT``, ``PLANNER_HOME``, ``PLANNER_PROJECT``),
so it can checkpoint with ``planner note $PLANNER_TASK_ID --token
$PLANNER_LEASE_TOKEN ...``. Exit code 0 completes the task, after its
``verify_command`` (run the same way) exits 0: verification fails closed, a
program that is missing or exits non-zero fails the task. Otherwise the task
fails with the tail of the output as the reason (a retry while attempts are
left). stdout and stderr go to one file, kept under ``--output-dir`` as
``TASK.ATTEMPT.log`` when given.

Exit status: 0 when stopped, 3 when the agent was deregistered by someone
else (it stops rather than fight over its name), 70 on an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from planner.agents.simulate import SimulatedJob, Simulation

EXIT_STOPPED, EXIT_DEREGISTERED, EXIT_ERROR = 0, 3, 70
#: the tail of a failed command's output kept as the failure's reason
TAIL_LINES, TAIL_CHARS = 20, 1500
_PLACEHOLDER = re.compile(r"\{\{(id|title|description|effort)\}\}|\{(id|title|description|effort)\}")


@dataclass(frozen=True)
class WorkerConfig:
    """What one worker does. ``command`` is the template (``None`` with ``simulation``)."""

    home: str
    project: str
    agent: str
    command: str | None = None
    simulation: Simulation | None = None
    capabilities: tuple[str, ...] = ()
    capacity: int = 1
    ttl: float | None = None  # the leases' TTL (the project's lease_ttl when None)
    timeout: float | None = None  # seconds per command (and per verify command); None: no limit
    grace: float = 3.0  # seconds a command gets between SIGTERM and SIGKILL when stopped
    output_dir: str | None = None
    kind: str = "ai"
    journal_dir: str | None = None  # journal acknowledged commands to DIR/AGENT.jsonl (planner.engine.journal)
    notify_pid: int | None = None  # SIGUSR1 to this process when the worker runs out of work (the supervisor)


def fill(template: str, task: dict[str, Any], what: str = "command") -> list[str]:
    """The words of ``template`` with the task's placeholders filled in, one word at a time
    (a title with spaces stays one argument). Raises DomainError for an empty or unsplittable
    template. O(len(template))."""
    from planner.domain.errors import DomainError

    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise DomainError(f"cannot split the {what} {template!r} into words: {exc}")
    if not words:
        raise DomainError(f"the {what} is empty: give the program to run, e.g. --exec 'make -C {{id}}'")
    values = {"id": task["id"], "title": task["title"], "description": task.get("description", ""),
              "effort": f"{task.get('effort', 0):g}"}

    def one(match: re.Match[str]) -> str:
        return "{" + match.group(1) + "}" if match.group(1) else values[match.group(2)]

    return [_PLACEHOLDER.sub(one, word) for word in words]


def check_template(template: str) -> list[str]:
    """Refuse a command template that cannot work, before any worker starts: unsplittable,
    empty, or (when the program is not a placeholder) a program that is not found."""
    import shutil

    from planner.domain.errors import DomainError

    argv = fill(template, {"id": "ID", "title": "TITLE", "description": "", "effort": 1.0})
    program = shlex.split(template)[0]
    if not _PLACEHOLDER.search(program) and shutil.which(program) is None:
        raise DomainError(f"--exec: program {program!r} not found (is it on PATH? give a full path otherwise)")
    return argv


class CommandJob:
    """One attempt at a task by running the command template, then the task's verify command."""

    def __init__(self, config: WorkerConfig, task: dict[str, Any], lease: Any, now: float):
        self.task, self.token, self.attempt = task["id"], lease["token"], lease["attempt"]
        self._timeout = config.timeout
        phases = [("command", config.command or "")]
        if task.get("verify_command"):
            phases.append(("verify command", task["verify_command"]))
        self._phases = phases
        self._task = task
        self._env = {**os.environ, "PLANNER_TASK_ID": task["id"], "PLANNER_TASK_TITLE": task["title"],
                     "PLANNER_TASK_JSON": json.dumps(task, default=str), "PLANNER_LEASE_TOKEN": str(lease["token"]),
                     "PLANNER_AGENT": config.agent, "PLANNER_HOME": os.path.abspath(config.home),
                     "PLANNER_PROJECT": config.project}
        if config.output_dir:
            os.makedirs(config.output_dir, exist_ok=True)
            self._out = open(os.path.join(config.output_dir, f"{task['id']}.{lease['attempt']}.log"), "w+b")  # noqa: SIM115
        else:
            self._out = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _close
        self._phase = -1
        self._phase_start = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._deadline = float("inf")
        self.outcome = self._next(now)  # None while it runs; set when it could not start

    def _next(self, now: float) -> tuple[str, str] | None:
        """Start the next phase; its failure, or None once it runs."""
        from planner.domain.errors import DomainError

        self._phase += 1
        name, template = self._phases[self._phase]
        try:
            argv = fill(template, self._task, name)
        except DomainError as exc:
            return self._close("failed", str(exc))
        try:
            self._out.seek(0, os.SEEK_END)  # past what the previous phase wrote through its own fd
            self._out.write(f"$ {shlex.join(argv)}\n".encode())
            self._out.flush()
            self._phase_start = self._out.tell()  # the reason quotes this phase's output only
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                                          env=self._env, start_new_session=True)
        except FileNotFoundError:
            return self._close("failed", f"{name} program {argv[0]!r} not found (is it on PATH?)")
        except OSError as exc:
            return self._close("failed", f"cannot start the {name} {argv[0]!r}: {exc.strerror or exc}")
        self._deadline = now + self._timeout if self._timeout else float("inf")
        return None

    def deadline(self) -> float:
        return self._deadline

    def poll(self, now: float) -> tuple[str, str] | None:
        """The outcome ``(state, reason)`` once the last phase is over, else None."""
        if self.outcome is not None:
            return self.outcome
        proc = self._proc
        assert proc is not None
        name = self._phases[self._phase][0]
        if proc.poll() is None:
            if now < self._deadline:
                return None
            self._kill_group(signal.SIGKILL)
            proc.wait()
            return self._close("failed", f"{name} timed out after {self._timeout:g} s and was killed{self._tail()}")
        self._kill_group(signal.SIGKILL)  # what it left running in its group
        code = proc.returncode
        if code != 0:
            how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
            return self._close("failed", f"{name} {how}{self._tail()}")
        if self._phase + 1 < len(self._phases):
            self.outcome = self._next(now)
            return self.outcome
        verified = " and its verify command passed" if len(self._phases) > 1 else ""
        return self._close("completed", f"command exited with code 0{verified}")

    def stop(self, grace: float, wait: Any) -> None:
        """SIGTERM the process group, wait up to ``grace`` seconds (``wait(timeout)`` sleeps
        until a child exits), then SIGKILL it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._kill_group(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while proc.poll() is None and time.monotonic() < deadline:
                wait(deadline - time.monotonic())
        self._kill_group(signal.SIGKILL)
        if proc is not None:
            proc.wait()
        self._close("failed", "stopped")

    def _kill_group(self, sig: int) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _tail(self) -> str:
        self._out.flush()
        size = self._out.seek(0, os.SEEK_END)
        self._out.seek(max(self._phase_start, size - 8 * TAIL_CHARS))
        text = self._out.read().decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if line.strip()][-TAIL_LINES:]
        tail = "\n".join(lines)[-TAIL_CHARS:]
        return f"; output ends:\n{tail}" if tail else "; no output"

    def _close(self, state: str, reason: str) -> tuple[str, str]:
        self.outcome = (state, reason)
        if not self._out.closed:
            self._out.close()
        return self.outcome


@dataclass
class _Running:
    job: Any
    task: str
    token: int
    next_renew: float


class Worker:
    """The loop of the module docstring. Use :func:`run_worker`."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self.stopping = threading.Event()
        self.jobs: dict[str, _Running] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._next_heartbeat = 0.0
        self.service: Any = None  # planner.service.service.Service: all the worker asks and tells
        self._mode = "planning"  # the project's mode as last seen
        self._next_expiry: float | None = None  # when the first lease runs out, as last seen

    # -- the process's signals -------------------------------------------------
    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a byte on the wake pipe is all we need

    def _on_stop(self, signum: int, frame: Any) -> None:
        self.stopping.set()

    def _wait(self, timeout: float) -> None:
        """Sleep until the wake pipe has a byte (an append, a signal, a child) or ``timeout``;
        not at all once stopping."""
        self._sleep(timeout if not self.stopping.is_set() else 0.0)

    def _sleep(self, timeout: float) -> None:
        """:meth:`_wait`, also while stopping (a command's grace period)."""
        if timeout > 0:
            self._selector.select(timeout)
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"l")
        except BlockingIOError:
            pass  # the pipe is full: the loop wakes anyway

    def _follow(self, from_seq: int) -> None:
        """The watcher thread: a byte on the wake pipe for every append (watchfiles, no polling)."""
        seen = from_seq - 1
        while not self.stopping.is_set():
            try:
                for seq in self.service.follow_seqs(seen + 1, timeout=None, stop_event=self.stopping):
                    seen = seq
                    self._wake()
            except Exception as exc:  # a watcher that dies would leave the worker deaf
                print(f"{self.config.agent}: watching the log failed ({exc!r}); watching again", flush=True)
                self.stopping.wait(0.5)

    # -- the loop ----------------------------------------------------------------
    def run(self) -> int:
        from planner.domain.errors import DomainError, UnknownAgent
        from planner.service.opening import open_service

        c = self.config
        self._install_signals()
        journal = None
        if c.journal_dir:
            os.makedirs(c.journal_dir, exist_ok=True)
            journal = os.path.join(c.journal_dir, f"{c.agent}.jsonl")
        self.service = s = open_service(c.home, c.project, journal=journal)
        watcher = None
        code = EXIT_STOPPED
        try:
            s.register_agent(c.agent, capabilities=c.capabilities, capacity=c.capacity, kind=c.kind)
            # renewals and heartbeats are asked for every ttl/4 of the shorter of the lease's TTL
            # and the project's (by which a silent agent's leases expire)
            project_ttl = s.status()["lease_ttl"]
            self.ttl = min(c.ttl or project_ttl, project_ttl)
            watcher = threading.Thread(target=self._follow, args=(s.seq + 1,), name="log-watcher", daemon=True)
            watcher.start()
            while not self.stopping.is_set():
                self._wait(0)
                busy = bool(self.jobs)
                now = time.monotonic()
                for running in list(self.jobs.values()):
                    outcome = running.job.poll(now)
                    if outcome is not None:
                        self._report(running, *outcome)
                self._renew(now)
                self._heartbeat(now)
                while len(self.jobs) < c.capacity and not self.stopping.is_set() and self._something_fits():
                    try:
                        lease = s.claim(c.agent, ttl=c.ttl)
                    except UnknownAgent:
                        raise
                    except DomainError:  # planning mode, full: the log will say when that changes
                        break
                    if lease is None:
                        break
                    self._start(lease)
                if busy and not self.jobs:
                    self._out_of_work()
                self._wait(self._timeout())
        except UnknownAgent:
            print(f"{c.agent}: deregistered by someone else: stopping", flush=True)
            code = EXIT_DEREGISTERED
        finally:
            self.stopping.set()
            self._stop_all(deregister=code == EXIT_STOPPED)
            if watcher is not None:
                watcher.join(5.0)
            s.close()
        return code

    def _out_of_work(self) -> None:
        """Its last job ended and nothing could be claimed: SIGUSR1 to ``notify_pid`` (the
        supervisor, which then looks whether the whole run is idle rather than at its next tick)."""
        if self.config.notify_pid is not None:
            try:
                os.kill(self.config.notify_pid, signal.SIGUSR1)
            except (ProcessLookupError, PermissionError):
                pass  # the supervisor is gone: the worker is told to stop by its own means

    def _something_fits(self) -> bool:
        """Lock-free: is a claim worth the lock? A ready task this agent can do, or a lease due
        to expire (the claim writes the expiry, and may then get the task). One query."""
        outlook = self.service.outlook(self.config.capabilities)
        self._mode, self._next_expiry = outlook["mode"], outlook["next_expiry"]
        if self._mode != "working":
            return False
        return outlook["fits"] or (self._next_expiry is not None and self._next_expiry <= time.time())

    def _timeout(self) -> float:
        """Seconds until the loop has something to do without being woken (the expiry as the
        last look saw it: any append wakes the loop, and a claim looks again)."""
        now = time.monotonic()
        due = [self._next_heartbeat]
        for running in self.jobs.values():
            due += [running.next_renew, running.job.deadline()]
        if len(self.jobs) < self.config.capacity and self._mode == "working" and self._next_expiry is not None:
            due.append(now + max(self._next_expiry - time.time(), 0.0) + 0.01)
        return min(max(min(due) - now, 0.005), 60.0)

    def _start(self, lease: dict[str, Any]) -> None:
        from planner.domain.errors import DomainError

        s, c = self.service, self.config
        task_id, token = lease["task"], lease["token"]
        try:
            task = s.set_state(task_id, "in_progress", token=token, by=c.agent)
        except DomainError as exc:  # lost it already, or it must wait now (a dependency added since)
            print(f"{c.agent}: could not start {task_id}: {exc}", flush=True)
            try:  # give it back rather than sit on it until it expires and costs an attempt
                s.release(task_id, token, reason=f"could not start: {exc}")
            except DomainError:
                pass  # (it had expired: nothing of ours to give back)
            return
        now = time.monotonic()
        if c.simulation is not None:
            job: Any = SimulatedJob(c.simulation, task, lease["attempt"], c.agent,
                                    lambda notes, data: self._checkpoint(task_id, token, notes, data), now)
        else:
            job = CommandJob(c, task, lease, now)
        running = _Running(job, task_id, token, now + self.ttl / 4)
        self.jobs[task_id] = running
        outcome = job.poll(now)
        if outcome is not None:  # it could not even start (or has nothing to do)
            self._report(running, *outcome)

    def _checkpoint(self, task: str, token: int, notes: str, data: dict[str, Any]) -> None:
        from planner.domain.errors import DomainError

        try:
            self.service.checkpoint(task, notes=notes, data=data, by=self.config.agent, token=token)
        except DomainError as exc:
            print(f"{self.config.agent}: checkpoint of {task} refused: {exc}", flush=True)

    def _report(self, running: _Running, state: str, reason: str) -> None:
        from planner.domain.errors import DomainError

        self.jobs.pop(running.task, None)
        try:
            self.service.set_state(running.task, state, reason=reason, token=running.token, by=self.config.agent)
        except DomainError as exc:  # the lease ran out and went to someone else: our result is void
            print(f"{self.config.agent}: {running.task} {state}, but the result was refused: {exc}", flush=True)

    def _renew(self, now: float) -> None:
        from planner.domain.errors import DomainError

        for running in list(self.jobs.values()):
            if now < running.next_renew:
                continue
            running.next_renew = now + self.ttl / 4
            try:
                self.service.renew(running.task, running.token, ttl=self.config.ttl)
            except DomainError as exc:  # expired (we were too slow) and maybe re-assigned: let go
                print(f"{self.config.agent}: lost the lease on {running.task} ({exc}); stopping that job",
                      flush=True)
                self.jobs.pop(running.task, None)
                running.job.stop(0.0, self._sleep)

    def _heartbeat(self, now: float) -> None:
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.ttl / 4
            self.service.heartbeat(self.config.agent)

    def _stop_all(self, deregister: bool) -> None:
        """Stop every job (commands: SIGTERM, ``grace``, SIGKILL), then deregister: the tasks
        still held go back to pending, with their checkpoints, without using up an attempt."""
        from planner.domain.errors import DomainError

        for running in list(self.jobs.values()):
            running.job.stop(self.config.grace, self._sleep)
        if deregister:
            try:
                self.service.deregister_agent(self.config.agent, reason="worker stopped")
            except DomainError:
                pass
        self.jobs.clear()


def run_worker(config: WorkerConfig) -> int:
    """Run one worker in this process until SIGTERM, SIGINT or SIGHUP; its exit status (see the module
    docstring). Installs signal handlers: call it from the main thread of a process of its own."""
    return Worker(config).run()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planner.agents.worker", description="One agent process.")
    parser.add_argument("home")
    parser.add_argument("project")
    parser.add_argument("--agent", required=True)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--exec", dest="command", metavar="'COMMAND TEMPLATE'")
    what.add_argument("--simulate", action="store_true")
    parser.add_argument("--cap", action="append", default=[], metavar="CAPABILITY")
    parser.add_argument("--capacity", type=int, default=1)
    parser.add_argument("--ttl", type=float)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--crash-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir")
    parser.add_argument("--journal-dir")
    args = parser.parse_args(argv)
    from planner.domain.errors import DomainError

    try:
        if args.command:
            check_template(args.command)
        sim = Simulation(args.time_scale, args.fail_rate, args.crash_rate, args.seed) if args.simulate else None
        return run_worker(WorkerConfig(args.home, args.project, args.agent, args.command, sim, tuple(args.cap),
                                       args.capacity, args.ttl, args.timeout, output_dir=args.output_dir,
                                       journal_dir=args.journal_dir))
    except DomainError as exc:
        print(f"planner.agents.worker: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
