"""``python -m stress.claim_worker`` through ``planner serve`` and embedded beside it: every task done once,
by the agent that held it, and the log says so (the embedded run with 20 processes is
tests/planner/test_claims_processes.py)."""

import subprocess
import sys

import pytest

from planner import Planner
from stress.bench.agents_bench import check_claim_log
from stress.serving import served

TASKS = 40


def _workers(home, agents):
    """Run one worker per ``(agent, option)`` at once; every acknowledged (task, token, agent) claimed and done."""
    procs = [subprocess.Popen([sys.executable, "-m", "stress.claim_worker", str(home), "p", "--agent", agent, option],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for agent, option in agents]
    claimed, done = [], []
    for (agent, _), proc in zip(agents, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        for line in out.splitlines():
            word, task, token = line.split()
            (claimed if word == "claimed" else done).append((task, int(token), agent))
    return claimed, done


@pytest.fixture
def home(tmp_path):
    with Planner.open(tmp_path, "p", create=True) as p:
        for i in range(TASKS):
            p.add_task(f"task {i}", id=f"t{i:03d}")
        p.set_mode("working")
    return tmp_path


def test_workers_through_a_server_and_embedded_beside_them_never_share_a_task(home):
    with served(home):  # three through the server, two on the files beside it, all at once
        claimed, done = _workers(home, [("s1", "--server"), ("s2", "--server"), ("s3", "--server"),
                                        ("e1", "--no-server"), ("e2", "--no-server")])
    assert sorted(task for task, _, _ in claimed) == [f"t{i:03d}" for i in range(TASKS)]
    assert sorted(done) == sorted(claimed)
    with Planner.open(home, "p") as p:
        assert check_claim_log(p, claimed, [(task, token) for task, token, _ in done]) == []
        assert p.stats()["leaves_by_state"] == {"completed": TASKS}


def test_a_worker_told_to_use_a_server_fails_when_none_runs(home):
    proc = subprocess.run([sys.executable, "-m", "stress.claim_worker", str(home), "p", "--agent", "a", "--server"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "no planner server serves" in proc.stderr
