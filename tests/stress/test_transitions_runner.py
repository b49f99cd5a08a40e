"""stress.transitions (BENCH-003): a short run as a real program (exit 0, the verification OK, the
JSON report's shape), its final check failing when the log and the journals disagree, and
its parts (the open-loop schedule, the whole-file JSON peer). No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from planner import Planner
from stress.bench import transitions_bench
from stress.openloop import OpLog, Schedule, offered_groups
from stress.peers import json_file_transitions as jft
from stress.transition_agent import PlannerSide
from stress.transitions import SP, TransitionsReport, final_check, prepare_stores, transition_project
from stress.verify import Journal

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_run_verifies_everything_and_reports_every_system(tmp_path):
    report_file = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "stress.transitions", "--rates", "20,200", "--duration", "1",
                           "--overload", "0", "--json", str(report_file)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "verification OK: 2 project log(s) audited" in done.stdout
    report = TransitionsReport.model_validate_json(report_file.read_text())
    assert report.ok and report.verification.ok and not report.problems
    assert report.agents == 8 and [r.rate for r in report.results] == [20, 200]
    for result in report.results:
        assert set(result.windows) == {"superplanner", "sqlite", "json"}
        assert set(result.ratios) == {"sqlite", "json"} and set(result.ratios["sqlite"]) == {"achieved", "p99"}
        ours = result.windows["superplanner"]
        assert ours.errors == 0 and ours.lost_leases == 0 and ours.drained_at_s is None
        assert ours.served + ours.backlog == ours.offered  # every offered transition served or still queued
        assert ours.latency.count == ours.served and ours.served % 3 == 0  # whole cycles only
    assert len(report.verification.summaries) == 2
    figures = transitions_bench.figures([report])  # what `python -m stress.bench transitions` reports
    assert {"achieved @20/s", "p99 latency @200/s", "SQLite achieved @200/s"} <= set(figures)
    assert figures["achieved @200/s"]["better"] == "higher" and "ratio_sqlite" in figures["achieved @200/s"]
    assert figures["SQLite p99 latency @20/s"]["peer"] is True


@pytest.fixture
def one_cycle(tmp_path):
    """A planner project with one journaled claim-start-complete cycle: (home, {project: journals})."""
    targets = prepare_stores(tmp_path, "rate-1", transition_project(4, seed=0), [SP], archive=False)
    target = dict(targets[SP], journal=str(Path(targets[SP]["journals"]) / "agent-0.jsonl"))
    side = PlannerSide(target, "agent-0")
    side.register()
    task, token = side.claim()
    side.start(task, token)
    side.complete(task, token)
    side.close()
    return tmp_path / "home", {"rate-1": Path(targets[SP]["journals"])}


def test_the_final_check_passes_when_log_and_journals_agree(one_cycle):
    verification = final_check(*one_cycle)
    assert verification.ok, verification.problems
    assert "1 claims and 1 completions acknowledged" in verification.summaries[0]


def test_the_final_check_fails_on_an_acknowledged_command_the_log_lacks(one_cycle):
    home, projects = one_cycle
    journal = Journal(projects["rate-1"] / "agent-9.jsonl")
    journal.ack("f" * 32, "claim ghost", [{"type": "task.assigned", "id": "ghost"}])
    journal.close()
    verification = final_check(home, projects)
    assert not verification.ok
    assert any("LOST" in p for p in verification.problems), verification.problems


def test_the_final_check_fails_on_a_transition_nobody_acknowledged(one_cycle):
    home, projects = one_cycle
    with Planner.open(home, "rate-1", archive_every=0, archive_interval=0) as p:
        lease = p.claim("agent-0")  # no journal: the runner's record does not know of it
        p.transition(lease.id, "in_progress", token=lease.token)
    verification = final_check(home, projects)
    assert not verification.ok
    problems = " / ".join(verification.problems)
    assert "2 leases granted in the log, 1 claims acknowledged" in problems
    assert "still leased" in problems


def test_the_schedule_interleaves_the_agents_evenly():
    schedules = [Schedule(rate=8.0, agents=4, index=i) for i in range(4)]
    due = sorted(s.due(k) for s in schedules for k in range(3))
    assert due == pytest.approx([k / 8 for k in range(12)])
    # cycles of 3 whose first operation is due before 1 s: agent 0 at 0 and 1.5 s -> 1 cycle each
    assert [s.groups_before(1.0, 3) for s in schedules] == [1, 1, 1, 1]
    assert offered_groups(8.0, 4, 3.0, 3) == 8
    assert Schedule(rate=8.0, agents=4, index=3).groups_before(0.1, 3) == 0


def test_an_oplog_keeps_what_fits_and_counts_the_rest():
    log = OpLog(2)
    for i in range(3):
        log.add(i, float(i), 0.5, 0.25)
    data = log.to_json()
    assert data["kind"] == [0, 1] and data["latency"] == [0.5, 0.5] and data["overflow"] == 1


def test_the_json_peer_guards_its_transitions_and_checks_what_was_acknowledged(tmp_path):
    path = tmp_path / "plan.json"
    assert jft.create(path, transition_project(3, seed=1)) == 3
    a, b = jft.JsonFileClaimer(path, "a"), jft.JsonFileClaimer(path, "b")
    a.register()
    b.register()
    task, token = a.claim()
    assert a.claim() is None  # capacity 1
    other, other_token = b.claim()
    assert other != task and other_token == token + 1
    with pytest.raises(jft.StaleToken):
        b.start(task, other_token)  # fencing: not b's token
    a.start(task, token)
    a.complete(task, token)
    b.start(other, other_token)
    b.complete(other, other_token)
    assert a.pending() == 1
    assert jft.check(path, [(task, token, "a"), (other, other_token, "b")], [(task, token), (other, other_token)]) == []
    problems = jft.check(path, [(task, token, "a")], [(task, token)])  # b's cycle left unacknowledged
    assert any("nobody acknowledged" in p for p in problems) and any("completed but" in p for p in problems)
    a.close()
    b.close()
