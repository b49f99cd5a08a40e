"""`planner work`: worker processes supervised for real (fork, signals, process groups), checked
through the log and psutil. No sleeps: the tests wait on pipes, on the log (follow) and on processes."""

import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from planner import Planner
from planner.domain.events import parse_event

FIXTURE = Path(__file__).parents[2] / "fixtures" / "complex_microservices_platform.json"
LEAVES = 13  # in that fixture
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")


def planner(home, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "planner", "--home", str(home), *args],
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class Work:
    """``planner work --json ...`` running; its stderr (one JSON line per happening) read by a thread."""

    def __init__(self, home, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "planner", "--home", str(home), "work", "--json", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(json.loads(line) if line.startswith("{") else {"event": "text", "message": line})

    def wait_for(self, event: str, count: int = 1, timeout: float = 60) -> list[dict]:
        """The first ``count`` happenings of kind ``event`` (waiting on the pipe for them)."""
        while len(found := [e for e in self.seen if e["event"] == event]) < count:
            self.seen.append(self.lines.get(timeout=timeout))
        return found[:count]

    def finish(self, timeout: float = 120) -> dict:
        out = self.proc.stdout.read()  # (stderr is the reader thread's: communicate() would take it)
        self.proc.wait(timeout)
        self._reader.join(timeout)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return json.loads(out)


def events(home, project: str = "default") -> list:
    with Planner.open(home, project) as p:
        return [(r.seq, parse_event(r.type, r.data)) for r in p.log.read()]


def check_leases(log: list) -> None:
    """I3 through the log: a task is assigned only when no live lease holds it; tokens only grow."""
    live: dict[str, int] = {}
    last = 0
    for seq, e in log:
        if e.type == "task.assigned":
            assert e.id not in live, f"{e.id} assigned twice at seq {seq}"
            assert e.token > last
            live[e.id], last = e.token, e.token
        elif e.type in ("lease.released", "lease.expired"):
            assert live.pop(e.id) == e.token


def imported(home, *init: str) -> None:
    planner(home, "init", *init)
    planner(home, "import", str(FIXTURE))
    planner(home, "mode", "working")


def test_simulated_agents_finish_every_task(tmp_path):
    imported(tmp_path)
    run = Work(tmp_path, "--agents", "3", "--simulate", "--until-idle", "--time-scale", "0.02", "--refresh", "0.1")
    summary = run.finish()
    assert run.proc.returncode == 0, summary
    assert summary["stopped_by"] == "idle" and summary["tasks"] == {"completed": LEAVES} and not summary["problems"]
    assert [w["agent"] for w in summary["workers"]] == ["agent-1", "agent-2", "agent-3"]
    assert all(w["state"] == "stopped" and w["crashes"] == 0 for w in summary["workers"])
    assert summary["capabilities"] == ["devops", "python", "security", "typescript"]  # what the tasks need
    log = events(tmp_path)
    check_leases(log)
    assert sum(e.type == "task.checkpointed" for _, e in log) >= 1  # half way, for efforts > 0
    with Planner.open(tmp_path, "default") as p:  # every worker gave its name back on the way out
        assert [a["active"] for a in p.agents()] == [False, False, False]


def test_crashed_workers_are_restarted_and_their_tasks_retried(tmp_path):
    imported(tmp_path, "--max-attempts", "20")
    run = Work(tmp_path, "--agents", "3", "--simulate", "--until-idle", "--time-scale", "0.02", "--refresh", "0.1",
               "--crash-rate", "0.3", "--fail-rate", "0.1", "--seed", "7", "--backoff", "0.05",
               "--max-restarts", "100")
    summary = run.finish()
    assert run.proc.returncode == 0, summary
    assert summary["tasks"] == {"completed": LEAVES}
    crashes = sum(w["crashes"] for w in summary["workers"])
    assert crashes >= 1 and sum(w["starts"] for w in summary["workers"]) == 3 + crashes
    restarted = run.wait_for("restarting", crashes)
    assert all("SIGKILL" in e["message"] for e in restarted)
    log = events(tmp_path)
    check_leases(log)
    ended = [e for _, e in log if e.type == "lease.released" and "was killed by SIGKILL" in (e.reason or "")]
    assert ended  # the supervisor ended a dead worker's lease at once, as a failed attempt
    retried = [e for _, e in log if e.type == "task.assigned" and e.attempt > 1]
    assert {e.id for e in retried} >= {e.id for e in ended}


def test_a_killed_workers_task_is_resumed_from_its_checkpoint_by_another(tmp_path):
    planner(tmp_path, "init")
    planner(tmp_path, "add", "the long one", "--id", "long", "--effort", "40")  # 1 to 3 s at --time-scale 0.05
    planner(tmp_path, "mode", "working")
    run = Work(tmp_path, "--agents", "2", "--simulate", "--until-idle", "--time-scale", "0.05", "--refresh", "0.1",
               "--backoff", "60")  # the killed agent is not back before the end: another one must resume
    pids = {e["agent"]: e["pid"] for e in run.wait_for("started", 2)}
    with Planner.open(tmp_path, "default") as p:
        checkpoint = next(r for r in p.log.follow(1, timeout=60) if r.type == "task.checkpointed")
    victim = checkpoint.data["by"]
    psutil.Process(pids[victim]).send_signal(signal.SIGKILL)  # half way through its work
    summary = run.finish()
    assert run.proc.returncode == 0, summary
    assert summary["tasks"] == {"completed": 1}
    worker = next(w for w in summary["workers"] if w["agent"] == victim)
    assert (worker["crashes"], worker["last_exit"]) == (1, "was killed by SIGKILL")

    check_leases(events(tmp_path))
    log = [e for _, e in events(tmp_path)]
    first = next(e for e in log if e.type == "task.assigned")
    assert (first.agent, first.attempt) == (victim, 1)
    after = log[log.index(first):]
    ended = next(e for e in after if e.type in ("lease.released", "lease.expired") and e.token == first.token)
    assert "SIGKILL" in ended.reason
    second = next(e for e in after[after.index(ended):] if e.type == "task.assigned")
    assert second.agent != victim and second.attempt == 2
    done = [e for e in after[after.index(second):] if e.type == "task.state_changed" and e.to_state == "completed"]
    assert len(done) == 1 and f"resumed from the checkpoint of {victim} at 50%" in done[0].reason


SPAWNS_AND_SLEEPS = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stubborn: only SIGKILL ends it (and its child)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
subprocess.run([sys.executable, "-m", "planner", "note", os.environ["PLANNER_TASK_ID"], "--notes", "started",
                "--token", os.environ["PLANNER_LEASE_TOKEN"]], check=True)
time.sleep(300)
"""


def test_sigterm_stops_everything_and_leaves_no_orphan(tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text(SPAWNS_AND_SLEEPS)
    planner(tmp_path, "init")
    for n in range(3):
        planner(tmp_path, "add", f"job {n}")
    planner(tmp_path, "mode", "working")
    run = Work(tmp_path, "--agents", "2", "--exec", f"{sys.executable} {script}", "--grace", "2", "--refresh", "0.1")
    with Planner.open(tmp_path, "default") as p:  # each command has started its child once it checkpoints
        started = 0
        for record in p.log.follow(1, timeout=60):
            started += record.type == "task.checkpointed"
            if started == 2:
                break
    supervisor = psutil.Process(run.proc.pid)
    tree = supervisor.children(recursive=True)
    assert len(tree) >= 6  # 2 workers, 2 commands, 2 children of commands
    run.proc.send_signal(signal.SIGTERM)
    summary = run.finish()
    assert run.proc.returncode == 128 + signal.SIGTERM and summary["stopped_by"] == "signal SIGTERM"
    alive = [proc for proc in tree if proc.is_running()]
    assert not alive, f"left running: {alive}"
    with Planner.open(tmp_path, "default") as p:  # the tasks went back, the agents left
        assert p.stats()["leaves_by_state"] == {"pending": 3}
        assert not any(a["active"] or a["leases"] for a in p.agents())


def test_verify_commands_fail_closed(tmp_path):
    planner(tmp_path, "init", "--max-attempts", "2")
    planner(tmp_path, "add", "verified", "--id", "ok", "--verify-command", f"{sys.executable} -c 'pass'")
    planner(tmp_path, "add", "verify fails", "--id", "bad", "--verify-command",
            f"{sys.executable} -c 'print(\"check of {{id}} failed\"); raise SystemExit(4)'")
    planner(tmp_path, "add", "verify missing", "--id", "missing", "--verify-command", "no-such-checker-here {id}")
    planner(tmp_path, "add", "command fails", "--id", "crash")
    planner(tmp_path, "mode", "working")
    command = f"{sys.executable} -c 'import sys; print(\"doing\", sys.argv[1]); sys.exit(sys.argv[1] == \"crash\")' {{id}}"
    run = Work(tmp_path, "--agents", "2", "--exec", command, "--until-idle", "--refresh", "0.1")
    summary = run.finish()
    assert run.proc.returncode == 1 and summary["tasks"] == {"completed": 1, "failed": 3}
    assert summary["problems"] == ["tasks left undone: 3 failed"]
    with Planner.open(tmp_path, "default") as p:
        assert p.task("ok")["state"] == "completed"
        reasons = {t: [r.data.get("reason") for r in p.log.read() if r.type == "lease.released" and
                       r.data["id"] == t] for t in ("bad", "missing", "crash")}
        assert all(p.task(t)["attempts"] == 2 and p.task(t)["state"] == "failed" for t in reasons)  # retried once
    assert all("verify command exited with code 4" in r and "check of bad failed" in r for r in reasons["bad"])
    assert all("'no-such-checker-here' not found" in r for r in reasons["missing"])
    assert all("command exited with code 1" in r and "doing crash" in r for r in reasons["crash"])


def test_a_worker_over_its_memory_limit_is_stopped(tmp_path):
    planner(tmp_path, "init", "--max-attempts", "1")
    planner(tmp_path, "add", "hungry", "--id", "hungry")
    planner(tmp_path, "mode", "working")
    hog = f"{sys.executable} -c 'import time; b = b\"x\" * (400 * 2**20); time.sleep(300)'"
    run = Work(tmp_path, "--agents", "1", "--exec", hog, "--memory-limit", "200", "--until-idle", "--refresh", "0.1")
    (stopped,) = run.wait_for("memory")
    assert stopped["agent"] == "agent-1" and stopped["rss_mb"] > 200 and "200 MB limit" in stopped["message"]
    summary = run.finish()
    assert run.proc.returncode == 1 and summary["tasks"] == {"failed": 1}
    assert summary["workers"][0]["memory_stops"] == 1
    assert any("memory" in problem for problem in summary["problems"])
    with Planner.open(tmp_path, "default") as p:
        ended = [r.data["reason"] for r in p.log.read() if r.type == "lease.released"]
        assert len(ended) == 1 and "went over the 200 MB limit" in ended[0]


def test_refusals_are_one_line_errors(tmp_path):
    planner(tmp_path, "init")
    planning = planner(tmp_path, "work", "--agents", "1", "--simulate", "--until-idle", "--json", check=False)
    assert planning.returncode == 2 and "planning mode" in json.loads(planning.stdout)["error"]["message"]
    planner(tmp_path, "mode", "working")
    missing = planner(tmp_path, "work", "--agents", "1", "--exec", "no-such-program-xyz {id}", check=False)
    assert missing.returncode == 2 and "'no-such-program-xyz' not found" in missing.stderr
    assert missing.stderr.count("\n") == 1
    bad_rate = planner(tmp_path, "work", "--agents", "1", "--simulate", "--crash-rate", "2", check=False)
    assert bad_rate.returncode == 2 and "--crash-rate" in bad_rate.stderr


SHOWS_ITS_TASK = """
import json, os, sys, time
task = json.loads(os.environ["PLANNER_TASK_JSON"])
print("argv", sys.argv[1:], "task", task["id"], task["effort"], "lease", os.environ["PLANNER_LEASE_TOKEN"],
      os.environ["PLANNER_TASK_ID"], os.environ["PLANNER_TASK_TITLE"], os.environ["PLANNER_PROJECT"],
      os.environ["PLANNER_AGENT"], os.path.isdir(os.environ["PLANNER_HOME"]), flush=True)
if task["id"] == "slow":
    time.sleep(300)  # the work itself: --timeout ends it
sys.exit(5)
"""


def test_commands_get_their_task_without_a_shell_and_a_timeout(tmp_path):
    script = tmp_path / "shows.py"
    script.write_text(SHOWS_ITS_TASK)
    planner(tmp_path, "--project", "p", "init", "--max-attempts", "1")
    planner(tmp_path, "--project", "p", "add", "two words; $(no shell)", "--id", "shown", "--effort", "2.5")
    planner(tmp_path, "--project", "p", "add", "slow one", "--id", "slow")
    planner(tmp_path, "--project", "p", "mode", "working")
    run = Work(tmp_path, "--project", "p", "--agents", "2", "--exec",
               f"{sys.executable} {script} {{title}} id={{id}} {{{{id}}}} {{effort}}", "--timeout", "1",
               "--until-idle", "--refresh", "0.1", "--output-dir", str(tmp_path / "out"))
    summary = run.finish()
    assert run.proc.returncode == 1 and summary["tasks"] == {"failed": 2}
    with Planner.open(tmp_path, "p") as p:
        reasons = {r.data["id"]: r.data["reason"] for r in p.log.read() if r.type == "lease.released"}
    token = next(e.token for _, e in events(tmp_path, "p") if e.type == "task.assigned" and e.id == "shown")
    assert reasons["shown"].startswith("command exited with code 5; output ends:\n")
    assert (f"argv ['two words; $(no shell)', 'id=shown', '{{id}}', '2.5'] task shown 2.5 lease {token} shown "
            f"two words; $(no shell) p agent-") in reasons["shown"]  # one word per placeholder, no shell
    assert reasons["shown"].endswith(" True")
    assert reasons["slow"].startswith("command timed out after 1 s and was killed; output ends:\n")
    assert (tmp_path / "out" / "shown.1.log").read_text().startswith(f"$ {sys.executable} ")


def test_work_in_lines_prints_a_line_per_happening(tmp_path):
    imported(tmp_path)
    result = planner(tmp_path, "work", "--agents", "2", "--simulate", "--until-idle", "--lines",
                     "--time-scale", "0.001")
    lines = result.stdout.splitlines()
    assert lines[0].endswith("started (pid " + lines[0].split("(pid ")[1]) and "agent-" in lines[0]
    assigned = [x for x in lines if " task.assigned " in x]
    completed = [x for x in lines if "-> completed" in x]
    assert len(assigned) >= LEAVES and len(completed) >= LEAVES  # (containers complete too)
    assert all(x[:8].count(":") == 2 for x in lines[:-1])  # HH:MM:SS first
    assert "stopped (idle)" in lines[-1] and "┏" not in result.stdout  # no live table
