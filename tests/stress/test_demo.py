"""The demo is the Quick start's main job: it must run and pass its own checks."""

import re
import subprocess
import sys


def test_demo_runs_and_all_its_checks_pass(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "stress.demo", "--home", str(tmp_path), "--writers", "4", "--steps", "25"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert "FAILED" not in result.stdout
    survived = re.search(r"all (\d+) acknowledged appends survived the kill", result.stdout)
    assert survived and int(survived.group(1)) >= 100 + 25  # 4x25 clean appends + the killed writer's
    assert (tmp_path / "demo-log" / "quarantine").is_dir()  # the torn tail was kept
    assert "all 15 tasks completed" in result.stdout  # the agents part: every task done by the agents
    assert re.search(r"the task agent-\d was killed in the middle of was resumed by agent-\d", result.stdout)
    assert "no task ever held by two agents" in result.stdout
    assert "cut a torn tail" not in result.stderr  # the demo says it once, indented, in its own words
