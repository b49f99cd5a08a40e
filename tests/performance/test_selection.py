"""Tests marked ``performance`` are skipped by default and run with ``-m performance``
(pytest in a subprocess, on the smallest BENCH-002 case; no timing is asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASE = "tests/performance/test_bench002_coordination.py::test_concurrent_agent_coordination[2]"


def pytest_run(*args):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_performance_tests_are_skipped_by_default():
    result = pytest_run(CASE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "run with -m performance" in result.stdout


def test_performance_tests_run_when_asked_for():
    result = pytest_run("-m", "performance", CASE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
