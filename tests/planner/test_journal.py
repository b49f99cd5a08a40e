"""planner.engine.journal: a line per acknowledged command that wrote events, found in the log."""

import json

from planner import DomainError, Planner


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_acknowledged_command_is_journaled_with_its_events(tmp_path):
    journal = tmp_path / "agent.jsonl"
    with Planner.open(tmp_path / "home", "p", create=True, durability="none", journal=journal) as p:
        p.set_mode("working")
        p.add_task("a", id="a")
        p.register_agent("x")
        lease = p.claim("x")
        p.heartbeat("x")  # heard from just now: writes nothing, so no line
        try:
            p.transition("a", "completed", token=lease.token + 1)  # refused: no line
        except DomainError:
            pass
        p.transition("a", "in_progress", token=lease.token, command_id="mine")
        records = {r.cmd: r for r in p.log.read()}
    got = lines(journal)
    assert [g["what"] for g in got] == ["SetMode", "AddTask", "RegisterAgent", "Claim", "Transition"]
    claim = got[3]
    assert claim["expect"] == [{"type": "task.state_changed", "id": "a", "to_state": "assigned"},
                               {"type": "task.assigned", "id": "a", "agent": "x", "token": lease.token}]
    assert got[4]["cmd"] == "mine"
    assert all(g["cmd"] in records for g in got)  # every journaled command id is in the log
