"""``planner serve``: one server per home, its files, clients beside embedded writers, kill -9."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from planner.engine.engine import Planner
from planner.service import wire
from planner.service.opening import open_service
from planner.service.service import Service
from stress.serving import start_server

ROOT = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "--project", "p", *args],
                          capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def project(home: Path, tasks: int, name: str = "p") -> None:
    with Planner.open(home, name, create=True, archive_every=0, archive_interval=0) as p:
        for i in range(tasks):
            p.add_task(f"task {i}", id=f"t{i}")
        p.set_mode("working")


def log_records(home: Path, name: str = "p") -> list[dict]:
    """The raw records, straight from the segment files (with each batch's ``end``)."""
    lines = []
    for segment in sorted((home / "projects" / name / "log").glob("*.jsonl")):
        lines += [json.loads(line) for line in segment.read_bytes().splitlines()]
    return lines


def test_one_server_per_home_status_and_stop(tmp_path):
    project(tmp_path, 1)
    proc = start_server(tmp_path)
    try:
        status = cli(tmp_path, "--json", "server", "status")
        assert status.returncode == 0
        info = json.loads(status.stdout)
        assert info["pid"] == proc.pid and info["home"] == str(tmp_path.resolve())
        sock = Path(info["socket"])
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600  # its owner only
        second = cli(tmp_path, "serve")
        assert second.returncode == 2 and "already serves" in second.stderr and str(proc.pid) in second.stderr
        assert cli(tmp_path, "status").returncode == 0
        assert json.loads(cli(tmp_path, "--json", "server", "status").stdout)["projects"] == ["p"]
        stopped = cli(tmp_path, "--json", "server", "stop")
        assert json.loads(stopped.stdout) == {"stopped": proc.pid}
        assert proc.wait(60) == 0
    finally:
        if proc.proc.poll() is None:
            proc.stop()
    assert "stopped (1 project flushed and closed)" in "".join(proc.lines)
    assert cli(tmp_path, "server", "status").returncode == 1
    assert not (tmp_path / wire.INFO_NAME).exists() and not sock.exists()


def test_a_killed_servers_files_are_detected_and_replaced(tmp_path):
    project(tmp_path, 2)
    proc = start_server(tmp_path)
    proc.kill()
    assert (tmp_path / wire.INFO_NAME).exists()  # left behind by kill -9
    assert cli(tmp_path, "server", "status").returncode == 1  # nobody listens
    added = cli(tmp_path, "add", "works without it")  # the CLI falls back to the files
    assert added.returncode == 0, added.stderr
    again = start_server(tmp_path)
    try:
        assert any(f"replacing the files of a server that is gone (pid {proc.pid})" in line for line in again.lines)
        assert cli(tmp_path, "server", "status").returncode == 0
        assert "works without it" in cli(tmp_path, "--json", "show", added.stdout.strip()).stdout
    finally:
        again.stop()


def test_a_client_gets_the_same_errors_as_embedded(tmp_path):
    project(tmp_path, 1)
    with Planner.open(tmp_path, "p") as p:
        p.register_agent("a")
    proc = start_server(tmp_path)
    try:
        client = open_service(tmp_path, "p")
        assert type(client).__name__ == "RemoteService"
        with client:
            lease = client.claim("a")
            assert lease["task"] == "t0"
            from planner.domain.errors import StaleLease, UnknownTask

            with pytest.raises(StaleLease, match="stale lease") as stale:
                client.set_state("t0", "completed", token=lease["token"] + 1)
            assert stale.value.task == "t0" and stale.value.holder == "a"
            with pytest.raises(UnknownTask, match="unknown task 'nope'"):
                client.show("nope")
            with Service.open(tmp_path, "p") as embedded, pytest.raises(StaleLease) as same:
                embedded.set_state("t0", "completed", token=lease["token"] + 1)
            assert str(same.value) == str(stale.value)
            from planner.domain.errors import ProjectNotFound

            with pytest.raises(ProjectNotFound, match="no project 'other'"):
                open_service(tmp_path, "other")
    finally:
        proc.stop()


def test_group_commit_decides_in_order_and_a_refusal_disturbs_no_one(tmp_path):
    """Commands decided as one group: each sees the ones before it, a refused one writes nothing,
    a retried id is applied once, and all of them are one batch (one write, one flush)."""
    from planner.domain import events as ev
    from planner.domain.errors import UnknownTask

    project(tmp_path, 0)
    with Planner.open(tmp_path, "p", archive_every=0, archive_interval=0) as p:
        before = p.graph.seq
        results = p.execute_group([
            ev.AddTask(id="a", title="A", command_id="c1"),
            ev.AddTask(id="b", title="B", depends_on=("zz",), command_id="c2"),  # refused
            ev.AddTask(id="c", title="C", depends_on=("a",), command_id="c3"),  # needs c1's task
            ev.AddTask(id="a", title="A", command_id="c1"),  # a retry: applied once
        ])
        assert [e.type for e in results[0]] == ["task.added"]
        assert isinstance(results[1], UnknownTask)
        assert [e.type for e in results[2]] == ["task.added", "dependency.added"]
        assert [e.id for e in results[3]] == ["a"]
        assert sorted(p.tasks()) == ["a", "c"]
    records = log_records(tmp_path)[before:]
    assert [r["cmd"] for r in records] == ["c1", "c3", "c3"]
    assert {r.get("end") for r in records} == {records[-1]["seq"]}  # one batch


def test_a_group_is_read_as_decided_and_written_all_or_nothing(tmp_path):
    """Inside ``Planner.group()`` the service's own methods decide into the group and read its
    state; nothing is in the log before the block ends; an exception leaves nothing written and
    the graph as the log has it."""
    from planner.service.service import Service

    project(tmp_path, 0)
    with Service.open(tmp_path, "p", archive_every=0, archive_interval=0) as s:
        p = s.planner
        before = p.graph.seq
        with p.group():
            assert s.add_task("A", id="a", command_id="k1") == {"id": "a"}
            assert s.show("a")["state"] == "pending"  # a query sees what the group decided
            assert s.add_task("A", id="a", command_id="k1") == {"id": "a"}  # a retry in the group: once
            assert len(log_records(tmp_path)) == before  # nothing written yet
        assert [r["cmd"] for r in log_records(tmp_path)[before:]] == ["k1"]
        with pytest.raises(RuntimeError), p.group():
            s.add_task("B", id="b")
            assert "b" in p.graph.tasks
            raise RuntimeError("the caller fails before the group ends")
        assert "b" not in p.graph.tasks and len(log_records(tmp_path)) == before + 1
        assert s.add_task("B", id="b") == {"id": "b"}  # the handle goes on


def run_agents(home: Path, names: list[tuple[str, str]], journals: Path | None = None,
               wait_for_go: bool = False) -> list[subprocess.Popen]:
    procs = []
    for name, mode in names:
        args = [sys.executable, "-m", "tests.server.agent", str(home), "p", name, mode]
        if journals is not None:
            args += ["--journal", str(journals / f"{name}.jsonl")]
        env = {**os.environ, wire.NO_SERVER_ENV: "1"} if mode == "embedded" else dict(os.environ)
        if wait_for_go:
            env["AGENT_WAIT_FOR_GO"] = "1"
        procs.append(subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env=env, stdin=subprocess.PIPE if wait_for_go else subprocess.DEVNULL))
    return procs


def test_twenty_clients_and_five_embedded_writers_never_lease_a_task_twice(tmp_path):
    tasks = 200
    project(tmp_path, tasks)
    proc = start_server(tmp_path)
    try:
        agents = run_agents(tmp_path, [(f"s{i}", "served") for i in range(20)] +
                            [(f"e{i}", "embedded") for i in range(5)], wait_for_go=True)
        for agent in agents:  # all registered, then all start claiming at once
            assert agent.stdout.readline().startswith("ack register")
        for agent in agents:
            agent.stdin.write("go\n")
            agent.stdin.flush()
        outputs = [a.communicate(timeout=240)[0] for a in agents]
        assert [a.returncode for a in agents] == [0] * 25, outputs
    finally:
        proc.stop()
    records = log_records(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assigned = [r["data"] for r in records if r["type"] == "task.assigned"]
    assert Counter(a["id"] for a in assigned) == Counter({f"t{i}": 1 for i in range(tasks)})  # leased once each
    tokens = [a["token"] for a in assigned]
    assert tokens == sorted(set(tokens))  # strictly increasing in log order
    by = Counter(a["agent"][0] for a in assigned)
    assert by["s"] > 0 and by["e"] > 0  # both kinds of writer did work
    done = [r for r in records if r["type"] == "task.state_changed" and r["data"]["to_state"] == "completed"]
    assert len(done) == tasks
    replay = cli(tmp_path, "--no-server", "--json", "replay", "--verify")
    assert replay.returncode == 0 and json.loads(replay.stdout)["verified"]


def test_kill_9_of_the_server_under_load_loses_nothing_acknowledged(tmp_path):
    """Four agents work through the server with journals; the server is SIGKILLed once they have
    had 40 acknowledgements between them. Each agent then says in one line that the server is
    gone; every acknowledged command is in the log (stress.verify), and the replay verifies."""
    project(tmp_path, 400)
    journals = tmp_path / "journals"
    journals.mkdir()
    proc = start_server(tmp_path)
    agents = run_agents(tmp_path, [(f"a{i}", "served") for i in range(4)], journals)
    acks = 0
    for line in agents[0].stdout:  # the first agent's acknowledgements, as they come
        acks += line.startswith("ack")
        if acks >= 10:
            break
    proc.kill()
    outputs = [a.communicate(timeout=120)[0] for a in agents]
    assert all(a.returncode in (0, 3) for a in agents), outputs
    gone = [o for a, o in zip(agents, outputs, strict=True) if a.returncode == 3]
    assert gone, "no agent noticed the server's death"
    for out in gone:
        error = [line for line in out.splitlines() if line.startswith("error:")]
        assert len(error) == 1 and "planner serve" in error[0]
        assert "stopped during" in error[0] or "no planner server serves" in error[0]  # (one that started late)
    verify = subprocess.run([sys.executable, "-m", "stress.verify", str(tmp_path), "p",
                             *map(str, sorted(journals.glob("*.jsonl")))], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    journaled = sum(1 for j in journals.glob("*.jsonl") for _ in j.open())
    assert journaled >= 10
    replay = cli(tmp_path, "--json", "replay", "--verify")
    assert replay.returncode == 0 and json.loads(replay.stdout)["verified"]


def test_a_retry_after_a_server_restart_is_applied_once(tmp_path):
    project(tmp_path, 1)
    proc = start_server(tmp_path)
    client = open_service(tmp_path, "p")
    try:
        client.register_agent("a", command_id="reg-1")
        first = client.claim("a", command_id="claim-1")
        proc.kill()
        proc = start_server(tmp_path)  # the client reconnects to the new server by itself
        again = client.claim("a", command_id="claim-1")
        assert again == first
    finally:
        client.close()
        proc.stop()
    assert [r["cmd"] for r in log_records(tmp_path) if r["type"] == "task.assigned"] == ["claim-1"]


def test_planner_work_runs_its_agents_through_the_server(tmp_path):
    """The supervisor and its workers find the server by themselves: the project is opened in the
    server (it says so), every task gets done, and the log verifies."""
    project(tmp_path, 30)
    proc = start_server(tmp_path)
    try:
        work = cli(tmp_path, "--json", "work", "--agents", "4", "--simulate", "--until-idle", "--time-scale", "0.01")
        assert work.returncode == 0, work.stderr[-2000:]
        summary = json.loads(work.stdout)
        assert summary["tasks"] == {"completed": 30} and summary["stopped_by"] == "idle"
        assert json.loads(cli(tmp_path, "--json", "server", "status").stdout)["projects"] == ["p"]
    finally:
        proc.stop()
    assert "opened project p" in "".join(proc.lines)
    agents = {r["data"]["agent"] for r in log_records(tmp_path) if r["type"] == "task.assigned"}
    assert agents <= {f"agent-{i}" for i in range(1, 5)} and len(agents) >= 2


def test_planner_open_is_a_client_with_the_engines_results_when_a_server_runs(tmp_path):
    """``planner.Planner.open`` with a server running: the engine's own command methods, their
    results (ids, events) and errors, through the server; without one, or with server=False,
    the engine itself."""
    import planner
    from planner.domain.errors import StaleLease
    from planner.engine.engine import Planner as Engine

    project(tmp_path, 2)
    with planner.Planner.open(tmp_path, "p") as first:
        assert isinstance(first, Engine)  # no server: the engine itself
    proc = start_server(tmp_path)
    try:
        with planner.Planner.open(tmp_path, "p") as p:
            assert type(p).__name__ == "RemotePlanner"
            assert p.add_task("more", id="t9", depends_on=["t0"]) == "t9"
            p.register_agent("a", capabilities=["x"])
            lease = p.claim("a")
            assert (lease.type, lease.id, lease.agent, lease.attempt) == ("task.assigned", "t0", "a", 1)
            p.transition("t0", "in_progress", token=lease.token)
            with pytest.raises(StaleLease):
                p.transition("t0", "completed", token=lease.token + 5)
            p.checkpoint("t0", notes="half", token=lease.token)
            p.transition("t0", "completed", token=lease.token)
            assert p.task("t0")["state"] == "completed" and p.task("t0")["checkpoint"]["notes"] == "half"
            assert p.ready() == ["t1", "t9"] or p.ready() == ["t9", "t1"]
            assert p.tasks() == ["t0", "t1", "t9"]
            assert p.stats()["leaves_by_state"] == {"completed": 1, "pending": 2}
            assert "health" not in p.agents()[0]
            with pytest.raises(AttributeError, match="server=False"):
                p.graph  # noqa: B018 - what an engine in another process cannot give
        with planner.Planner.open(tmp_path, "p", server=False) as engine:
            assert isinstance(engine, Engine) and engine.task("t9")["depends_on"] == ["t0"]
    finally:
        proc.stop()
    assert json.loads(cli(tmp_path, "--json", "replay", "--verify").stdout)["verified"]
