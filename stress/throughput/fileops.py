"""File I/O: N file operations as the spec means them (the spec: 1,000 in < 1 minute; 100
concurrent operations per second with < 1% failures), from 1 and from 10 processes.

What the original super-planner kept as files, agents write and read here through the
planner: the project's files are its log (one durable append per write) and the exports.
Each process (``python -m stress.throughput.fileops AGENT OPS HOME PROJECT OUT``, on the
files: no server) registers as an agent, claims a task and starts it, says it is ready, and
once every process is (a line on its stdin), does its share of the operations, ten at a time:

* 5 **checkpoints with data** (``Service.checkpoint``: notes and a 1 KB JSON object, a
  durable append under the lock);
* 4 **task reads** (``Service.show``), each checking that the task's checkpoint is the last
  one this process wrote;
* 1 **export** (``Service.export("json")`` written to ``OUT/AGENT.N.json``, read back and
  parsed: every task there);

then completes its task and prints one JSON line: its operations, its failures (an
exception, or a read that did not show what was written), its first error, and when its first
and last operations were. Two times: from spawning the first process to the last one's exit
(their starts included: the spec's "1,000 operations in < 1 minute"), and the **window** from
the first operation to the last, which gives the operations per second (the spec's "100
concurrent operations per second"). Afterwards:
``planner replay --verify``, and the agents' tasks completed with their last checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stress.serving import REPO, open_project

from .common import Cli, import_fixture, verify

TASKS = 100
PAYLOAD = "x" * 1000
CYCLE = ("write", "read", "write", "read", "write", "read", "write", "read", "write", "export")


@dataclass
class FileOpsRun:
    """One repetition at one process count."""

    processes: int
    ops: int
    seconds: float = float("nan")  # spawning the first process to the last one's exit
    window: float = float("nan")  # the first operation to the last (every process ready before)
    failures: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.ops / self.window

    @property
    def failure_rate(self) -> float:
        return self.failures / self.ops if self.ops else float("nan")


def agent(name: str, ops: int, home: str, project: str, out: str) -> dict[str, Any]:
    """One process's share (see the module docstring); its report. Says ``{"ready": true}`` once
    its task is started, and waits for a line on stdin before the first operation."""
    service = open_project(home, project, server=False)
    failures, first_error, done, written = 0, None, 0, None
    try:
        service.register_agent(name)
        lease = service.claim(name)
        if lease is None:
            return {"agent": name, "ops": 0, "failures": ops, "error": "no task to claim"}
        task, token = lease["task"], lease["token"]
        service.set_state(task, "in_progress", token=token, by=name)
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
        began = time.time()
        for i in range(ops):
            kind = CYCLE[i % len(CYCLE)]
            try:
                if kind == "write":
                    written = {"op": i, "agent": name, "payload": PAYLOAD}
                    service.checkpoint(task, notes=f"{name} op {i}", data=written, by=name, token=token)
                elif kind == "read":
                    checkpoint = service.show(task)["checkpoint"]
                    if checkpoint is None or checkpoint.get("data") != written:
                        raise AssertionError(f"{task}'s checkpoint is not the one written before op {i}")
                else:
                    path = Path(out) / f"{name}.{i}.json"
                    path.write_text(service.export("json"))
                    if len(json.loads(path.read_text())["tasks"]) != TASKS:
                        raise AssertionError(f"{path.name} does not hold the {TASKS} tasks")
            except Exception as exc:  # noqa: BLE001 - a failed operation is counted, the others go on
                failures += 1
                first_error = first_error or f"op {i} ({kind}): {exc!r}"
            done += 1
        ended = time.time()
        service.set_state(task, "completed", token=token, by=name)
        return {"agent": name, "task": task, "ops": done, "failures": failures, "error": first_error,
                "last": written, "began": began, "ended": ended}
    except Exception:  # noqa: BLE001 - reported to the parent, which counts what is missing as failed
        return {"agent": name, "ops": done, "failures": failures + ops - done,
                "error": traceback.format_exc().strip().splitlines()[-1]}
    finally:
        service.close()


def run_fileops(work: Path, env: Mapping[str, str], ops: int, processes: int) -> FileOpsRun:
    """``ops`` operations from ``processes`` processes on a fresh project in ``work``."""
    run = FileOpsRun(processes, ops)
    cli = Cli(env, work / f"home-{processes}", "files")
    import_fixture(cli, {"project": {"name": "files"}, "tasks": [
        {"id": f"F{i + 1:03d}", "name": f"File task {i + 1}", "estimated_effort": 1.0} for i in range(TASKS)]},
        work / "files.json", working=True)
    out = work / f"out-{processes}"
    out.mkdir()
    shares = [ops // processes + (1 if i < ops % processes else 0) for i in range(processes)]
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "stress.throughput.fileops", f"files-{i + 1}", str(share),
                               str(cli.home), cli.project, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO, env=dict(env))
             for i, share in enumerate(shares)]
    for proc in procs:  # every one ready (an empty line: it failed, and says why at the end)
        proc.stdout.readline()
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.stdin.write("go\n")
            proc.stdin.flush()  # (communicate closes it)
    reports = []
    for proc, share in zip(procs, shares, strict=True):
        stdout, stderr = proc.communicate(timeout=900)
        try:
            reports.append(json.loads(stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            reports.append({"ops": 0, "failures": share, "error": f"exited {proc.returncode}: {stderr[-300:]}"})
    run.seconds = time.perf_counter() - start
    spans = [(r["began"], r["ended"]) for r in reports if "began" in r]
    if spans:
        run.window = max(e for _, e in spans) - min(b for b, _ in spans)
    run.failures = sum(r["failures"] for r in reports) + ops - sum(r["ops"] for r in reports)
    run.problems += [f"file I/O ({processes} processes): {r.get('agent')}: {r['error']}" for r in reports
                     if r.get("error")][:5]
    last = {r["task"]: r.get("last") for r in reports if r.get("task")}

    def check(tasks: dict[str, dict[str, Any]]) -> list[str]:
        wrong = [t for t in tasks if tasks[t]["status"] != ("completed" if t in last else "pending")]
        return [f"{len(wrong)} tasks in the wrong state, e.g. {wrong[0]}"] if wrong else []

    run.problems += verify(cli, check, f"file I/O ({processes} processes)")
    service = open_project(cli.home, cli.project, server=False)
    try:
        for task, data in last.items():
            if data is not None and (service.show(task)["checkpoint"] or {}).get("data") != data:
                run.problems.append(f"file I/O ({processes} processes): {task} lost its last checkpoint")
    finally:
        service.close()
    return run


if __name__ == "__main__":  # one agent process: AGENT OPS HOME PROJECT OUT
    name, count, home_dir, project_name, out_dir = sys.argv[1:6]
    print(json.dumps(agent(name, int(count), home_dir, project_name, out_dir)), flush=True)
