"""Short versions of the stress runners, as real processes: each must end with its
independent verification passing and exit 0 (their long versions: see the README)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 240) -> str:
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_crash_every_fault_once_loses_nothing_acknowledged():
    out = run("stress.crash", "--rounds", "6", "--writers", "2", "--seed", "7")
    summary = out.strip().splitlines()[-1]
    assert "6 rounds" in summary and " 0 lost; 0 problem(s)" in summary, out[-2000:]
    for fault in ("1 kill", "1 torn", "1 disk-full", "1 permission", "1 damage", "1 delete-segment"):
        assert fault in summary
    assert out.count("verification OK") == 6


def test_agents_killed_at_random_under_the_supervisor_lose_nothing():
    out = run("stress.agents", "--agents", "6", "--tasks", "120", "--duration", "40", "--kills-per-minute", "90",
              "--time-scale", "0.1", "--seed", "3")
    assert "verification OK" in out and " 0 lost; 0 problem(s)" in out, out[-2000:]
    done = out.split("tasks completed")[0].rsplit(";", 1)[-1].split()
    assert done[0] == done[2], f"not every leaf completed: {' '.join(done)}"
