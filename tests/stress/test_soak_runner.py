"""stress.soak (BENCH-005): a short soak as a real program (exit 0, the verification OK, the JSON
report's shape); the same with a leak injected into the agents (exit 1: the leak is caught);
its final check failing when the log and the journals disagree; the leak arithmetic and the
GC pause histogram. No timing is asserted."""

from __future__ import annotations

import gc
import math
import subprocess
import sys
from pathlib import Path

import pytest

from stress import leak
from stress.bench import soak_bench
from stress.gcwatch import GcWatch, bucket, merged_percentile, upper_edge
from stress.soak import PROJECT, SoakReport, final_check, prepare
from stress.soak_agent import PlannerWork
from stress.verify import Journal

ROOT = Path(__file__).resolve().parents[2]


def soak(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stress.soak", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_a_short_soak_verifies_everything_and_reports_memory_and_gc(tmp_path):
    report_file = tmp_path / "report.json"
    done = soak("--minutes", "0.1", "--json", str(report_file))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "verification OK" in done.stdout and "soak OK" in done.stdout
    report = SoakReport.model_validate_json(report_file.read_text())
    assert report.ok and report.verification["ok"] and report.errors == 0 and report.lost_leases == 0
    assert report.agents == 10 and len(report.memory) == 10 and report.control is not None
    for m in [*report.memory, report.control]:
        assert m.samples and m.baseline_mb > 0 and m.peak_mb >= m.baseline_mb and not m.leak
    assert report.served + report.backlog <= report.offered
    assert report.counts["claim"] >= report.counts["start"] >= report.counts["checkpoint"]
    assert report.counts["complete"] == report.counts["add"]  # every completed task replaced
    assert report.counts["claim"] == report.counts["complete"] + report.counts["reopen"]
    assert len(report.gc.collections) == 3 and report.allowance["limit_kb_per_1000_ops"] > 0
    figures = soak_bench.figures(report)  # what `python -m stress.bench soak` reports
    assert figures["RSS slope"]["repetitions"] == 10 and figures["RSS slope"]["limit"] > 0
    assert figures["baseline RSS"]["better"] == "lower"
    assert {"baseline RSS", "peak / baseline", "GC pause max"} <= set(figures)


def test_a_leak_in_the_agents_is_caught_and_fails_the_run():
    done = soak("--minutes", "0.1", "--agents", "2", "--tasks", "200", "--rate", "20", "--inject-leak", str(1 << 20))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "LEAK" in done.stdout and "soak FAILED" in done.stdout
    assert "verification OK" in done.stdout  # the log itself is fine: only the memory failed


@pytest.fixture
def one_cycle(tmp_path):
    """A small soak project with one agent's journaled cycle (claim, start, checkpoint, look,
    complete, add): (home, journals)."""
    home = tmp_path / "home"
    capabilities = prepare(home, 30, seed=0)
    journals = tmp_path / "journals"
    journals.mkdir()
    order = {"target": {"home": str(home), "project": PROJECT, "archive": False,
                        "journal": str(journals / "agent-0.jsonl")},
             "seed": 0, "complete_share": 1.0, "capabilities": capabilities}
    work = PlannerWork(order, "agent-0")
    work.register()
    kinds = [work.step(position) for position in range(7)]
    work.close()
    assert kinds[-1] is None and None not in kinds[:6]
    return home, sorted(journals.glob("*.jsonl"))


def test_the_soak_final_check_passes_when_log_and_journals_agree(one_cycle):
    home, journals = one_cycle
    verification = final_check(home, journals, imported=30)
    assert verification["ok"], verification["problems"]
    assert "1 claims, 1 completions and 1 additions acknowledged" in verification["summary"]


def test_the_soak_final_check_fails_on_an_acknowledged_command_the_log_lacks(one_cycle, tmp_path):
    home, journals = one_cycle
    extra = tmp_path / "journals" / "agent-9.jsonl"
    journal = Journal(extra)
    journal.ack("e" * 32, "add ghost", [{"type": "task.added", "id": "ghost"}])
    journal.close()
    verification = final_check(home, [*journals, extra], imported=30)
    assert not verification["ok"] and any("LOST" in p for p in verification["problems"])


def test_a_fit_recovers_a_line_and_the_verdict_needs_a_significant_excess():
    xs = [float(i) for i in range(50)]
    line = leak.fit(xs, [3.0 + 2.0 * x for x in xs])
    assert line.slope == pytest.approx(2.0) and line.intercept == pytest.approx(3.0) and line.stderr == pytest.approx(0)
    assert math.isnan(leak.fit([1.0], [1.0]).slope)
    limit = 100 * 1024.0
    assert not leak.verdict(50 * 1024.0, 1024.0, limit, ops=1e6).leak  # below the limit
    assert not leak.verdict(200 * 1024.0, 80 * 1024.0, limit, ops=1e6).leak  # above it, within the noise
    assert not leak.verdict(200 * 1024.0, 1024.0, limit, ops=1000).leak  # above it, but < MIN_EXCESS in all
    assert leak.verdict(200 * 1024.0, 1024.0, limit, ops=1e6).leak
    allowance = leak.Allowance(key_bytes=200, task_bytes=2000, commands_per_1000=800, tasks_per_1000=10)
    assert allowance.expected == 800 * 200 + 10 * 2000
    assert allowance.limit == leak.FACTOR * allowance.expected + leak.MARGIN_PER_1000


def test_the_key_bytes_measure_a_dict_shaped_like_the_logs_index():
    assert 100 < leak.key_bytes(entries=5_000, step=250) < 1_000


def test_gc_pauses_are_counted_in_a_fixed_histogram():
    watch = GcWatch().install()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        watch.uninstall()
    assert watch.count[2] >= 1 and watch.count[0] >= 1
    assert sum(watch.hist) == sum(watch.count)
    assert 0 < watch.max[2] <= merged_percentile([watch.hist], 100) * 1.2
    assert math.isnan(merged_percentile([], 99))
    for seconds in (1e-7, 3e-6, 0.0042, 1.5):
        assert seconds <= upper_edge(bucket(seconds)) < max(seconds, 1e-6) * 1.2
