"""The stress runners' verification catches what it claims to: each kind of damage or
violation, written straight into a real log, is reported; a clean log passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventstore import EventLog
from planner import Planner
from planner.domain.events import encode_event
from stress.model import Model, Violation
from stress.verify import Journal, audit, read_raw_log


@pytest.fixture
def home(tmp_path: Path) -> Path:
    with Planner.open(tmp_path, "p", create=True, durability="none") as p:
        p.set_mode("working")
        a = p.add_task("a", id="a")
        p.add_task("b", id="b", depends_on=[a])
        p.register_agent("x", capacity=2)
        lease = p.claim("x", command_id="claim-1")
        p.transition(lease.id, "in_progress", token=lease.token, command_id="start-1")
    return tmp_path


def log_dir(home: Path) -> Path:
    return home / "projects" / "p" / "log"


def append_raw(home: Path, *events) -> None:
    """Events written straight to the log, past every rule of the engine."""
    with EventLog.open(log_dir(home).parent, durability="none") as log:
        log.append([encode_event(e) for e in events])


def test_a_clean_log_and_honest_journal_pass(home, tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.ack("claim-1", "claim a", [{"type": "task.assigned", "id": "a", "agent": "x", "token": 1}])
    journal.ack("start-1", "start a", [{"type": "task.state_changed", "id": "a", "to_state": "in_progress"}])
    journal.close()
    result = audit(home, "p", [tmp_path / "j.jsonl"])
    assert result.ok, result.problems
    assert result.acknowledged == 2 and result.records > 5


def test_an_acknowledged_command_missing_from_the_log_is_reported_lost(home, tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.ack("never-written", "complete a", [])
    journal.ack("claim-1", "claim a", [{"type": "task.assigned", "id": "a", "token": 2}])  # told the wrong token
    journal.close()
    problems = audit(home, "p", [tmp_path / "j.jsonl"]).problems
    assert any("never-written" in p and "LOST" in p for p in problems), problems
    assert any("claim-1" in p and "'token': 2" in p for p in problems), problems


def test_a_journal_line_cut_by_a_kill_is_not_an_acknowledgement(home, tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"cmd": "claim-1", "expect": []}) + "\n" + '{"cmd": "half-writ')
    result = audit(home, "p", [path])
    assert result.ok and result.acknowledged == 1


def test_a_flipped_byte_a_gap_and_a_torn_tail_are_told_apart(home):
    segment = max(log_dir(home).glob("*.jsonl"))
    lines = segment.read_bytes().split(b"\n")
    assert read_raw_log(log_dir(home)).problems == []
    damaged = bytearray(lines[2])
    damaged[20] ^= 1
    segment.write_bytes(b"\n".join([*lines[:2], bytes(damaged), *lines[4:]]) + b'{"seq":99,"id')  # and no line 4
    raw = read_raw_log(log_dir(home))
    assert any("checksum" in p or "not JSON" in p for p in raw.problems), raw.problems
    assert any("expected" in p and "seq" in p for p in raw.problems), raw.problems
    assert raw.torn_tail == len(b'{"seq":99,"id')


@pytest.mark.parametrize("events, rule", [
    ([("task.state_changed", {"id": "b", "from_state": "pending", "to_state": "in_progress"})], "waiting on"),
    ([("task.state_changed", {"id": "a", "from_state": "pending", "to_state": "completed"})], "is in_progress"),
    ([("task.state_changed", {"id": "b", "from_state": "pending", "to_state": "completed"})], "state table"),
    ([("task.added", {"id": "c", "title": "c"}),
      ("task.state_changed", {"id": "c", "from_state": "pending", "to_state": "assigned"}),
      ("task.assigned", {"id": "c", "agent": "x", "token": 1, "expires_at": 1.0, "attempt": 1, "at": 0.0})],
     "does not increase"),
    ([("task.assigned", {"id": "a", "agent": "x", "token": 9, "expires_at": 1.0, "attempt": 2, "at": 0.0})],
     "two live leases"),
    ([("lease.released", {"id": "a", "token": 7})], "not the live lease"),
    ([("dependency.added", {"task": "a", "depends_on": "b"})], "cycle"),
])
def test_every_illegal_event_is_a_violation(home, events, rule):
    """Replaying the clean log passes; each illegal event appended after it is caught."""
    model = Model()
    records = read_raw_log(log_dir(home)).records
    for record in records:
        model.apply(record["seq"], record["type"], record["data"])
    model.settle()
    with pytest.raises(Violation, match=rule):
        for offset, (kind, data) in enumerate(events, 1):
            model.apply(len(records) + offset, kind, data)
        model.settle()


def test_audit_reports_an_illegal_event_in_a_real_log(home):
    from planner.domain import events as ev

    append_raw(home, ev.TaskStateChanged(id="b", from_state="pending", to_state="in_progress"))
    problems = audit(home, "p").problems
    assert len(problems) == 1 and "invariant broken" in problems[0] and "waiting on" in problems[0], problems
