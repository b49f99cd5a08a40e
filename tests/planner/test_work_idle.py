"""`planner work --until-idle` stops when its workers run out of work, not at its next refresh tick.

A worker whose last job ended and that found nothing to claim sends SIGUSR1 to the
supervisor, which then looks whether the whole run is idle. The refresh tick here is an hour
away, so only that path can end these runs (a run that waited for the tick would be stopped
by the subprocess timeout, and fail).
"""

import os
import sys

import pytest

from tests.planner.test_work import Work, check_leases, events, imported, planner

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
HOUR = "3600"


def test_the_run_ends_when_the_last_task_is_done(tmp_path):
    imported(tmp_path)  # 13 leaves, with dependencies: workers go idle and busy again on the way
    run = Work(tmp_path, "--agents", "3", "--exec", f"{sys.executable} -c pass", "--until-idle", "--refresh", HOUR)
    summary = run.finish(timeout=120)
    assert run.proc.returncode == 0, summary
    assert summary["stopped_by"] == "idle" and summary["tasks"] == {"completed": 13} and not summary["problems"]
    check_leases(events(tmp_path))


def test_a_worker_out_of_work_does_not_end_the_run_while_another_holds_a_task(tmp_path):
    planner(tmp_path, "init")
    planner(tmp_path, "add", "quick")  # T1
    planner(tmp_path, "add", "slow")  # T2: its command waits for T3 to be added, below
    planner(tmp_path, "mode", "working")
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    # T2's command ends once the test writes to the FIFO: the worker that did T1 is out of work
    # meanwhile, and the run must go on; T3, added while T2 runs, must be done too.
    script = tmp_path / "job.py"
    script.write_text("import os\n"
                      "if os.environ['PLANNER_TASK_ID'] == 'T2':\n"
                      f"    open({str(fifo)!r}).read()\n")
    run = Work(tmp_path, "--agents", "2", "--exec", f"{sys.executable} {script}", "--until-idle", "--refresh", HOUR)
    _wait_for_completion(tmp_path, "T1")
    planner(tmp_path, "add", "added while T2 runs")  # T3
    _wait_for_completion(tmp_path, "T3")
    with open(fifo, "w") as go:  # (blocks until T2's command has it open)
        go.write("go")
    summary = run.finish(timeout=120)
    assert run.proc.returncode == 0, summary
    assert summary["stopped_by"] == "idle" and summary["tasks"] == {"completed": 3}, summary


def _wait_for_completion(home, task: str) -> None:
    """Follow the log (no polling) until ``task`` is completed."""
    from planner import Planner

    with Planner.open(home, "default") as p:
        for record in p.log.follow(1, timeout=60):
            if record.type == "task.state_changed" and record.data["id"] == task \
                    and record.data["to_state"] == "completed":
                return
    raise AssertionError(f"{task} was not completed within a minute")
