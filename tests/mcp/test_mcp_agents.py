"""Agents working through ``planner mcp``, each test embedded and through ``planner serve``: a whole
loop checked against ``Planner`` and the log; two agents racing for the same tasks; refusals (a
cycle, an unknown task, planning mode, bad arguments, a stale token after an expiry) that answer
``isError`` with the CLI's message and write nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.mcp.conftest import PROJECT, ROOT, call, mcp_client, open_service, refused


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "--project", PROJECT, *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def _cli_refusal(home: Path, *args: str) -> str:
    """The one line the CLI prints for a refused command, without its ``planner:`` prefix."""
    result = _cli(home, *args)
    assert result.returncode == 2 and result.stderr.startswith("planner: "), result.stderr
    return result.stderr.removeprefix("planner: ").rstrip("\n")


# -- one agent, from adding tasks to completing them ------------------------------------------
async def _loop(home: Path) -> dict:
    async with mcp_client(home, "ann", "--capabilities", "sql,python") as ann:
        design = await call(ann, "add_task", title="Design the schema", priority="high", capabilities=["sql"])
        build = await call(ann, "add_task", title="Build it", depends_on=[design["id"]], effort=2.0)
        ship = await call(ann, "add_task", title="Ship it", depends_on=[build["id"]],
                          description="tag and release", verify_command="true")
        assert design["ready"] and not build["ready"] and ship["depends_on"] == [build["id"]]
        assert [t["id"] for t in await call(ann, "ready")] == [design["id"]]
        before = await call(ann, "status")
        assert before["agent"] == "ann" and before["you"] is None  # registered on its first claim, not before

        got = await call(ann, "claim_task")
        assert got["claimed"] and got["task"]["id"] == design["id"] and got["task"]["state"] == "in_progress"
        assert got["attempt"] == 1 and got["resume_from"] is None and 0 < got["expires_in"] <= 300
        assert got["task"]["lease"]["token"] == got["token"]
        saved = await call(ann, "checkpoint_task", task=design["id"], notes="tables drafted",
                           data={"branch": "schema", "files": ["schema.sql"]})  # no token: the session keeps it
        assert saved["checkpoint"]["notes"] == "tables drafted" and saved["checkpoint"]["by"] == "ann"
        assert saved["lease"]["token"] == got["token"]
        status = await call(ann, "status")
        assert [(x["task"], x["token"]) for x in status["you"]["leases"]] == [(design["id"], got["token"])]
        done = await call(ann, "complete_task", task=design["id"], reason="reviewed")
        assert done["state"] == "completed" and done["lease"] is None

        edited = await call(ann, "edit_task", task=ship["id"], priority="critical", capabilities=["python"])
        assert (edited["priority"], edited["capabilities"], edited["title"]) == ("critical", ["python"], "Ship it")
        assert (await call(ann, "remove_dependency", task=ship["id"], depends_on=build["id"]))["depends_on"] == []
        assert (await call(ann, "add_dependency", task=ship["id"], depends_on=build["id"]))["depends_on"] == [build["id"]]
        assert [(n["id"], n["done"], n["ready"]) for n in await call(ann, "tree", depth=1)] == [
            (design["id"], True, False), (build["id"], False, True), (ship["id"], False, False)]
        got = await call(ann, "claim_task", task=build["id"])
        renewed = await call(ann, "renew_lease", task=build["id"], ttl=600)
        assert renewed["token"] == got["token"] and renewed["expires_at"] > got["expires_at"]
        released = await call(ann, "release_task", task=build["id"], reason="lunch")
        assert released["state"] == "pending" and released["ready"] and released["lease"] is None
        got = await call(ann, "claim_task")
        assert got["task"]["id"] == build["id"]
        failed = await call(ann, "fail_task", task=build["id"], reason="tests red")
        assert failed["state"] == "pending" and failed["attempts"] == 2  # retried: attempts are left
        for task in (build, ship):
            got = await call(ann, "claim_task")
            assert got["task"]["id"] == task["id"]
            await call(ann, "complete_task", task=task["id"])
        assert await call(ann, "claim_task") == {"claimed": False, "message": "nothing ready that ann can do"}
        history = await call(ann, "history", task=design["id"])
        analysis = await call(ann, "analyze")
        assert analysis["progress"] == 1.0 and analysis["critical_path"] == [design["id"], build["id"], ship["id"]]
    return {"ids": [design["id"], build["id"], ship["id"]], "history": history, "tokens": got["token"]}


def test_an_agent_adds_claims_checkpoints_and_completes(home):
    seen = asyncio.run(_loop(home))
    design, build, ship = seen["ids"]

    from planner import Planner  # the state, as a program sees it

    planner = Planner.open(home, PROJECT)
    try:
        assert [planner.task(t)["state"] for t in seen["ids"]] == ["completed"] * 3
        assert planner.task(design)["checkpoint"]["data"] == {"branch": "schema", "files": ["schema.sql"]}
        assert planner.stats()["progress"]["fraction"] == 1.0
        assert [(a["id"], a["active"], a["leases"]) for a in planner.agents()] == [("ann", False, [])]
    finally:
        planner.close()

    with open_service(home) as service:  # the log
        events = service.events()
    about = [e for e in events if e["data"].get("id") == design]
    assert [e["type"] for e in about] == ["task.added", "task.state_changed", "task.assigned", "task.state_changed",
                                          "task.checkpointed", "task.state_changed", "lease.released"]
    assigned = about[2]["data"]
    assert (assigned["agent"], assigned["attempt"]) == ("ann", 1)
    assert [(e["data"]["from_state"], e["data"]["to_state"], e["data"]["by"]) for e in about
            if e["type"] == "task.state_changed"] == [("pending", "assigned", "ann"), ("assigned", "in_progress", "ann"),
                                                      ("in_progress", "completed", "ann")]
    assert [e["type"] for e in events if e["type"].startswith("agent.")] == ["agent.registered", "agent.deregistered"]
    assert (events[-1]["data"]["agent"], events[-1]["data"]["reason"]) == ("ann", "MCP session ended")
    assert json.loads(_cli(home, "--json", "history", design).stdout) == seen["history"]  # the CLI's, the same


# -- two agents, one plan ----------------------------------------------------------------------
JOBS = 16


async def _work_until_idle(client) -> list[tuple[str, int]]:
    got = []
    while (claimed := await call(client, "claim_task"))["claimed"]:
        got.append((claimed["task"]["id"], claimed["token"]))
        await call(client, "complete_task", task=claimed["task"]["id"])
    return got


async def _race(home: Path) -> dict[str, list[tuple[str, int]]]:
    async with mcp_client(home, "ann") as ann, mcp_client(home, "bob") as bob:
        mine, theirs = await asyncio.gather(_work_until_idle(ann), _work_until_idle(bob))
    return {"ann": mine, "bob": theirs}


def test_two_agents_racing_for_the_same_tasks_never_share_one(home):
    with open_service(home) as service:
        for i in range(JOBS):
            service.add_task(f"job {i}", id=f"j{i:02}")
    got = asyncio.run(_race(home))
    claims = {(task, token, agent) for agent, leases in got.items() for task, token in leases}
    with open_service(home) as service:
        events = service.events()
    assigned = [(e["data"]["id"], e["data"]["token"], e["data"]["agent"]) for e in events if e["type"] == "task.assigned"]
    assert set(assigned) == claims and len(assigned) == JOBS  # each task leased once, to the agent that was told so
    assert sorted(task for task, _, _ in assigned) == [f"j{i:02}" for i in range(JOBS)]
    tokens = [token for _, token, _ in assigned]
    assert tokens == sorted(set(tokens))  # fencing tokens only grow
    completed = Counter(e["data"]["id"] for e in events
                        if e["type"] == "task.state_changed" and e["data"]["to_state"] == "completed")
    assert completed == Counter({f"j{i:02}": 1 for i in range(JOBS)})


# -- refusals ------------------------------------------------------------------------------------------
async def _refusals(home: Path, service) -> None:
    def seq() -> int:
        return service.status()["seq"]

    async with mcp_client(home, "ann") as ann, mcp_client(home, "bob") as bob:
        await call(ann, "add_task", title="a", id="a")
        await call(ann, "add_task", title="b", id="b", depends_on=["a"])
        start = seq()
        cycle = await refused(ann, "add_dependency", task="a", depends_on="b")
        assert cycle == _cli_refusal(home, "dep", "add", "a", "b") and "cycle" in cycle
        assert await refused(ann, "show_task", task="nope") == "unknown task 'nope': `planner tree` lists the ids"
        assert await refused(ann, "complete_task", task="nope") == _cli_refusal(home, "set", "nope", "completed")
        service.set_mode("planning")
        start = seq()
        assert await refused(ann, "claim_task") == _cli_refusal(home, "claim", "ann")
        assert "planning mode" in await refused(ann, "claim_task")
        assert seq() == start  # not even the agent's registration
        service.set_mode("working")

        start = seq()  # bad arguments: the input schema's errors
        assert "priority" in await refused(ann, "add_task", title="x", priority="urgent")
        assert "Extra inputs are not permitted" in await refused(ann, "add_task", title="x", dependson=["a"])
        assert "ttl" in await refused(ann, "claim_task", ttl=-1)
        assert "task" in await refused(ann, "complete_task")
        assert seq() == start

        # a lease that expires and goes to another agent, with the checkpoint to resume from
        first = await call(ann, "claim_task")
        assert first["task"]["id"] == "a"
        await call(ann, "checkpoint_task", task="a", notes="half way", data={"step": 1})
        await call(ann, "renew_lease", task="a", ttl=1e-6)  # runs out before anyone's next command
        second = await call(bob, "claim_task")  # expires ann's lease first, then leases the task to bob
        assert second["task"]["id"] == "a" and second["attempt"] == 2 and second["token"] > first["token"]
        assert (second["resume_from"]["notes"], second["resume_from"]["data"]) == ("half way", {"step": 1})
        start = seq()
        stale = await refused(ann, "complete_task", task="a")
        assert stale == (f"stale lease: token {first['token']} is stale: a is now leased to bob under token "
                         f"{second['token']}; nothing was changed")
        assert stale == _cli_refusal(home, "set", "a", "completed", "--token", str(first["token"]))
        assert (await refused(ann, "checkpoint_task", task="a", notes="mine")).startswith("stale lease")
        assert seq() == start

        await call(bob, "renew_lease", task="a", ttl=1e-6)
        assert service.reap()[0]["token"] == second["token"]  # (the expiry, written by whoever notices)
        start = seq()
        assert await refused(bob, "complete_task", task="a") == (
            f"stale lease: a is not leased any more (token {second['token']} expired or was released); "
            "nothing was changed")
        assert await refused(bob, "release_task", task="a") == (
            "no lease token for a: this session did not claim it; pass the token claim_task returned (status lists "
            "your leases)")  # forgotten once found stale
        assert seq() == start
        assert service.show("a")["state"] == "pending" and service.show("a")["attempts"] == 2


def test_refusals_answer_is_error_with_the_clis_message_and_write_nothing(home):
    with open_service(home) as service:
        asyncio.run(_refusals(home, service))
