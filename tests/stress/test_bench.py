"""The benchmark program runs end to end and its correctness checks pass (no timing is asserted)."""

import json
import subprocess
import sys


def test_log_benchmark_runs_and_verifies_what_it_measured(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "stress.bench", "log", "--quick", "--duration", "0.3", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())["log"]
    for name in ("EventLog durable step @20", "SQLite WAL FULL step @20", "raw disk: write+fdatasync @1"):
        assert figures[name]["median"] > 0, name
    assert "ratio EventLog/SQLite @20 procs" in result.stdout
