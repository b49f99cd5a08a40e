"""The agent and lease commands of the CLI, through real subprocesses, --json parsed."""

import time

import pytest

from .conftest import as_json


@pytest.fixture
def cli(run_planner):
    return run_planner


def seq(cli) -> int:
    return as_json(cli("status", "--json"))["seq"]


def until(instant: float) -> None:
    """Let the wall clock reach ``instant`` (a lease's expiry): waiting for time, not for a process."""
    time.sleep(max(0.0, instant - time.time()) + 0.05)


def test_register_claim_work_and_fencing(cli):
    cli("init", "--lease-ttl", "60")
    cli("add", "schema", "--id", "schema", "--effort", "3")
    cli("add", "api", "--id", "api", "--after", "schema", "--cap", "python")
    agent = as_json(cli("agent", "register", "ann", "--cap", "python", "--capacity", "2", "--json"))
    assert (agent["id"], agent["capabilities"], agent["capacity"], agent["active"]) == ("ann", ["python"], 2, True)
    refused = cli("claim", "ann", "--json", check=False)  # planning mode: claims are paused
    assert refused.returncode == 2 and "planning mode" in as_json(refused)["error"]["message"]
    cli("mode", "working")

    lease = as_json(cli("claim", "ann", "--json"))
    assert (lease["task"], lease["agent"], lease["attempt"]) == ("schema", "ann", 1)
    assert lease["expires_at"] - lease["renewed_at"] == pytest.approx(60)  # the project's TTL, set by init
    nothing = cli("claim", "ann", "--json")  # api waits on schema: nothing fits, which is no error
    assert nothing.returncode == 0 and as_json(nothing) is None
    assert "nothing ready" in cli("claim", "ann").stdout

    before = seq(cli)
    for token in (["--token", str(lease["token"] + 7)], []):  # a wrong token, and none at all
        stale = cli("set", "schema", "in_progress", *token, "--json", check=False)
        assert stale.returncode == 2 and as_json(stale)["error"]["type"] == "StaleLease"
    plain = cli("set", "schema", "in_progress", "--token", "99", check=False)
    assert plain.returncode == 2 and plain.stderr.count("\n") == 1 and "stale lease" in plain.stderr
    assert seq(cli) == before  # nothing was written

    token = str(lease["token"])
    assert as_json(cli("set", "schema", "in_progress", "--token", token, "--json"))["state"] == "in_progress"
    saved = as_json(cli("note", "schema", "--notes", "tables done", "--data", '{"tables": 4}',
                        "--token", token, "--by", "ann", "--json"))
    assert (saved["notes"], saved["data"], saved["by"]) == ("tables done", {"tables": 4}, "ann")
    bad = cli("note", "schema", "--data", "[1, 2]", "--token", token, "--json", check=False)
    assert bad.returncode == 2 and "JSON object" in as_json(bad)["error"]["message"]
    renewed = as_json(cli("renew", "schema", token, "--json"))
    assert renewed["token"] == lease["token"] and renewed["expires_at"] >= lease["expires_at"]

    board = as_json(cli("agents", "--json"))
    assert [(a["id"], a["health"], [x["task"] for x in a["leases"]]) for a in board] == [("ann", "alive", ["schema"])]
    assert 0 < board[0]["leases"][0]["expires_in"] <= 60 and board[0]["effort_held"] == 3
    assert "ann" in cli("agents").stdout

    done = as_json(cli("set", "schema", "completed", "--token", token, "--json"))
    assert done["state"] == "completed" and done["lease"] is None and done["checkpoint"]["data"] == {"tables": 4}
    stale = cli("renew", "schema", token, "--json", check=False)  # the lease ended with the task
    assert stale.returncode == 2 and as_json(stale)["error"]["type"] == "StaleLease"

    second = as_json(cli("claim", "ann", "--task", "api", "--json"))
    assert (second["task"], second["token"]) == ("api", lease["token"] + 1)  # tokens only grow
    back = as_json(cli("release", "api", str(second["token"]), "--reason", "lunch", "--json"))
    assert back["state"] == "pending" and back["lease"] is None and back["ready"]
    third = as_json(cli("claim", "ann", "--json"))
    assert (third["task"], third["attempt"]) == ("api", 2)
    gone = as_json(cli("agent", "deregister", "ann", "--reason", "done for today", "--json"))
    assert not gone["active"] and gone["leases"] == []
    assert as_json(cli("show", "api", "--json"))["state"] == "pending"
    assert as_json(cli("agents", "--json"))[0]["health"] == "deregistered"
    unknown = cli("claim", "ann", "--json", check=False)
    assert unknown.returncode == 2 and as_json(unknown)["error"]["type"] == "UnknownAgent"


def test_leases_run_out_and_are_reaped(cli, mode):
    """Embedded (files or PostgreSQL), the reap command writes the expiry; served, the server may have reaped first on
    its own clock: either way the log says the lease expired, once, and the task is back."""
    cli("init", "--lease-ttl", "3", "--max-attempts", "2")
    cli("add", "flaky", "--id", "flaky")
    cli("mode", "working")
    cli("agent", "register", "bob")
    first = as_json(cli("claim", "bob", "--json"))
    assert first["expires_at"] - first["renewed_at"] == pytest.approx(3)
    assert as_json(cli("reap", "--json")) == []  # not yet (3 s leave room for a loaded machine to start this process)
    until(first["expires_at"])
    expired = as_json(cli("reap", "--json"))
    if mode != "served":  # (embedded, on files or PostgreSQL: nobody else reaps)
        assert [(x["task"], x["agent"], x["token"]) for x in expired] == [("flaky", "bob", first["token"])]
    logged = [e["data"] for e in as_json(cli("history", "flaky", "--json")) if e["type"] == "lease.expired"]
    assert [(x["id"], x["agent"], x["token"]) for x in logged] == [("flaky", "bob", first["token"])]
    assert "not renewed" in logged[0]["reason"]
    task = as_json(cli("show", "flaky", "--json"))
    assert (task["state"], task["lease"], task["attempts"]) == ("pending", None, 1)
    cli("agent", "heartbeat", "bob")

    second = as_json(cli("claim", "bob", "--json"))
    assert second["attempt"] == 2
    until(second["expires_at"])
    reaped = [x["task"] for x in as_json(cli("reap", "--json"))]
    assert reaped == ["flaky"] if mode != "served" else reaped in (["flaky"], [])
    assert as_json(cli("show", "flaky", "--json"))["state"] == "failed"  # out of attempts (--max-attempts 2)
    assert "no lease had run out" in cli("reap").stdout


def test_assign_deals_ready_tasks_to_agents(cli):
    cli("init")
    for n in range(3):
        cli("add", f"task {n}", "--effort", str(n + 1))
    cli("add", "needs go", "--cap", "go")
    cli("mode", "working")
    cli("agent", "register", "a1")
    cli("agent", "register", "a2", "--cap", "go", "--capacity", "2")
    leases = as_json(cli("assign", "--json"))
    assert sorted(x["agent"] for x in leases) == ["a1", "a2", "a2"]
    assert len({x["task"] for x in leases}) == 3 and len({x["token"] for x in leases}) == 3
    assert as_json(cli("assign", "--agent", "a1", "--json")) == []  # a1 is full
    assert {a["id"]: len(a["leases"]) for a in as_json(cli("agents", "--json"))} == {"a1": 1, "a2": 2}


def test_watch_once(cli):
    cli("init")
    cli("add", "one")
    cli("add", "two")
    cli("mode", "working")
    cli("agent", "register", "w1")
    lease = as_json(cli("claim", "w1", "--json"))
    cli("set", lease["task"], "in_progress", "--token", str(lease["token"]))
    cli("set", lease["task"], "completed", "--token", str(lease["token"]))
    frame = as_json(cli("watch", "--once", "--json"))
    assert frame["progress"] == {"completed": 1, "leaves": 2, "fraction": 0.5}
    assert frame["leaves_by_state"] == {"completed": 1, "pending": 1} and frame["ready"] == 1
    assert [(a["id"], a["health"]) for a in frame["agents"]] == [("w1", "alive")]
    assert len(frame["events"]) == 10 and frame["events"][-1]["seq"] == frame["seq"]
    assert frame["events"][-1]["type"] == "lease.released"
    assert [e["seq"] for e in as_json(cli("watch", "--once", "--json", "--events", "3"))["events"]] == \
        [frame["seq"] - 2, frame["seq"] - 1, frame["seq"]]
    human = cli("watch", "--once").stdout
    assert "1/2 leaves completed" in human and "w1" in human and "task.assigned" in human
    refused = cli("watch", "--json", check=False)
    assert refused.returncode == 2 and "--once" in as_json(refused)["error"]["message"]
