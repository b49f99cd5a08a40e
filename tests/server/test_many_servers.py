"""Several machines on one project (issue 16), simulated: ``planner serve`` processes, each with a home
of its own, all serving one PostgreSQL project, beside embedded agents; then ``kill -9`` of one server.

What must hold, read back from the log through the store: a task is never leased while a lease
on it is live, fencing tokens strictly increase in log order, every task is completed exactly
once; the agents of the killed server say so in one line (ServerGone), the leases they held run
out (a 2 s TTL) and agents of the other servers resume those tasks from their checkpoints, with a
higher token. Every wait is on a pipe (an agent's lines, a server's ready line) or a process exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from eventstore import open_store
from eventstore.postgres.names import mask
from planner.domain.errors import DomainError, ProjectNotFound
from planner.engine.engine import Planner
from planner.service.opening import open_service
from planner.service.remote import RemoteService
from stress.serving import start_server
from tests import pg_server

ROOT = Path(__file__).resolve().parents[2]
TASKS = 100
SERVERS = 3  # the last one is killed
AGENTS_PER_SERVER = 3
EMBEDDED = 2
LEASE_TTL = 2.0


def spawn(home: Path, name: str, mode: str, store: str, hold: bool = False) -> subprocess.Popen:
    env = {**os.environ, "AGENT_WAIT_FOR_GO": "1", **({"AGENT_HOLD_AT": "1"} if hold else {})}
    env.pop("PLANNER_NO_SERVER", None)
    return subprocess.Popen([sys.executable, "-m", "tests.server.agent", str(home), "p", name, mode, "--store", store,
                             "--checkpoints", "--wait-on-log"],
                            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def status(home: Path, store: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "--store", store, "--json",
                           "server", "status"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_servers_on_their_own_homes_share_one_postgres_project_and_survive_a_kill_9(tmp_path):
    store = pg_server.store_name()
    with Planner.open(None, "p", store=store, create=True, lease_ttl=LEASE_TTL, max_attempts=10,
                      archive_every=0, archive_interval=0) as p:
        for i in range(TASKS):
            p.add_task(f"task {i}", id=f"t{i}")
        p.set_mode("working")
    homes = [tmp_path / f"machine{m}" for m in range(SERVERS)]
    servers = [start_server(home, env={**os.environ, "PLANNER_STORE": store}) for home in homes]
    agents: dict[str, subprocess.Popen] = {}
    try:
        shown = status(homes[0], store)
        assert shown["store"] == mask(store) and shown["home"] == str(homes[0].resolve())
        for m, home in enumerate(homes):
            for a in range(AGENTS_PER_SERVER):
                agents[f"m{m}a{a}"] = spawn(home, f"m{m}a{a}", "served", store, hold=(m == SERVERS - 1))
        for e in range(EMBEDDED):
            agents[f"e{e}"] = spawn(tmp_path / f"embedded{e}", f"e{e}", "embedded", store)
        for agent in agents.values():  # all registered, then all start claiming at once
            assert agent.stdout.readline().startswith("ack register")
        for agent in agents.values():
            agent.stdin.write("go\n")
            agent.stdin.flush()
        doomed = {name: agent for name, agent in agents.items() if name.startswith(f"m{SERVERS - 1}")}
        held: dict[str, int] = {}
        for agent in doomed.values():  # each holds its first task, checkpointed, renewing its lease
            for line in agent.stdout:
                if line.startswith("ack held "):
                    _, _, task, token = line.split()
                    held[task] = int(token)
                    break
        assert len(held) == AGENTS_PER_SERVER, held
        servers[-1].kill()  # kill -9, mid-load
        with open_store(store, "p") as log:
            killed_at = log.last_seq
        outputs = {name: agent.communicate(timeout=180)[0] for name, agent in agents.items()}
    finally:
        for agent in agents.values():
            if agent.poll() is None:
                agent.kill()
                agent.wait()
        for server in servers[:-1]:
            server.stop()
        servers[-1].kill()

    for name, agent in agents.items():
        if name in doomed:  # one line saying the server is gone
            errors = [line for line in outputs[name].splitlines() if line.startswith("error:")]
            assert agent.returncode == 3 and len(errors) == 1, outputs[name]
            assert "planner serve" in errors[0] and "stopped during" in errors[0], errors
        else:
            assert agent.returncode == 0, (name, outputs[name])

    records = pg_server.raw_records(store, "p")  # (checks the seqs are contiguous from 1)
    assigned = [r["data"] for r in records if r["type"] == "task.assigned"]
    tokens = [a["token"] for a in assigned]
    assert tokens == sorted(set(tokens))  # fencing tokens strictly increase in log order
    live: dict[str, int] = {}  # task -> the token of its live lease
    expired: set[tuple[str, int]] = set()
    for r in records:
        data = r["data"]
        if r["type"] == "task.assigned":
            assert data["id"] not in live, f"{data['id']} leased again while token {live.get(data['id'])} was live"
            live[data["id"]] = data["token"]
        elif r["type"] in ("lease.expired", "lease.released"):  # (a completion releases the lease)
            assert live.pop(data["id"]) == data["token"]
            if r["type"] == "lease.expired":
                expired.add((data["id"], data["token"]))
    assert live == {}
    assert any(r["seq"] > killed_at for r in records if r["type"] == "task.state_changed"
               and r["data"]["to_state"] == "completed" and r["data"]["id"] not in held)  # the others worked on
    completed = Counter(r["data"]["id"] for r in records
                        if r["type"] == "task.state_changed" and r["data"]["to_state"] == "completed")
    assert completed == Counter({f"t{i}": 1 for i in range(TASKS)})  # every task completed exactly once

    by = Counter(a["agent"][:2] for a in assigned)
    assert all(by[f"m{m}"] > 0 for m in range(SERVERS)) and by["e0"] + by["e1"] > 0, by
    resumed = "".join(out for name, out in outputs.items() if name not in doomed)
    for task, token in held.items():  # the killed server's tasks: expired, then re-leased higher, resumed
        assert (task, token) in expired, task
        later = [a for a in assigned if a["id"] == task and a["token"] > token]
        assert later and not later[-1]["agent"].startswith(f"m{SERVERS - 1}"), later
        assert f"ack resume {task} " in resumed, task
        steps = [r["data"]["data"]["step"] for r in records if r["type"] == "task.checkpointed"
                 and r["data"]["id"] == task]
        assert steps == [1, 2]  # the second holder went on from the first one's checkpoint


def test_a_server_of_a_store_serves_only_the_clients_of_that_store(tmp_path):
    store = pg_server.store_name()
    with Planner.open(None, "p", store=store, create=True, archive_every=0, archive_interval=0) as p:
        p.add_task("one", id="t0")
    home = tmp_path / "machine"
    server = start_server(home, env={**os.environ, "PLANNER_STORE": store})
    try:
        assert f"from {mask(store)}" in server.lines[0]
        with open_service(home, "p", store=store) as served:
            assert isinstance(served, RemoteService) and served.show("t0")["title"] == "one"
        with pytest.raises(ProjectNotFound):  # no --store: the home's files, which the server does not serve
            open_service(home, "p")
        with pytest.raises(DomainError, match="no planner server serves"):
            open_service(home, "p", server=True)
        other = pg_server.store_name()  # another schema: another store, embedded
        with Planner.open(None, "p", store=other, create=True, archive_every=0, archive_interval=0):
            pass
        with open_service(home, "p", store=other) as embedded:
            assert not isinstance(embedded, RemoteService) and embedded.status()["tasks"] == 0
        shown = subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "server", "status"],
                               capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert shown.returncode == 0 and f"store {mask(store)}" in shown.stdout  # (status needs no --store)
        assert status(home, store)["projects"] == ["p"]
    finally:
        server.stop()
