"""``planner migrate --to STORE``: a project copied exactly from files to PostgreSQL and back
(same seqs, ids, types, ts, keys, data and batches: the segments come back byte for byte),
then used from its new store; a target that holds records is refused."""

from __future__ import annotations

import json
import subprocess
import sys

from eventstore import open_store
from eventstore.batches import read_batches
from tests import pg_server


def planner(home, *args, store=None, check=True):
    env_store = ["--store", store] if store else []
    result = subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "--no-server", *env_store, *args],
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def batches(name: str, project: str) -> list:
    store = open_store(name, project)
    try:
        return list(read_batches(store, store.last_seq))
    finally:
        store.close()


def test_files_to_postgresql_and_back_is_exact(tmp_path):
    home, back = tmp_path / "home", tmp_path / "back"
    pg = pg_server.store_name()
    planner(home, "init")
    for i in range(5):
        planner(home, "add", f"task {i}", *(["--after", f"T{i}"] if i else []))
    planner(home, "mode", "working")
    planner(home, "agent", "register", "a1")
    planner(home, "claim", "a1")
    copied = json.loads(planner(home, "migrate", "--to", pg, "--json").stdout)
    assert copied["verified"] and copied["records"] == len(sum(batches(f"file:{home}/projects", "default"), []))
    source = batches(f"file:{home}/projects", "default")
    assert batches(pg, "default") == source  # every field of every record, and the batches

    # the project lives on in PostgreSQL
    planner(home, "add", "added in postgres", store=pg)
    status = json.loads(planner(home, "status", "--json", store=pg).stdout)
    assert status["tasks"] == 6

    back_copy = json.loads(planner(home, "migrate", "--to", f"file:{back}", "--json", store=pg).stdout)
    assert back_copy["records"] == copied["records"] + 1
    assert batches(f"file:{back}", "default")[:len(source)] == source
    original = sorted((home / "projects" / "default" / "log").glob("*.jsonl"))
    again = sorted((back / "default" / "log").glob("*.jsonl"))
    assert again[0].read_bytes().startswith(original[0].read_bytes())  # byte for byte
    status = json.loads(planner(back, "status", "--json", store=f"file:{back}").stdout)
    assert status["tasks"] == 6


def test_a_target_that_holds_records_is_refused(tmp_path):
    pg = pg_server.store_name()
    planner(tmp_path, "init")
    planner(tmp_path, "init", store=pg)
    refused = planner(tmp_path, "migrate", "--to", pg, check=False)
    assert refused.returncode == 2
    assert "refusing to overwrite it" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    store = open_store(pg, "default")
    try:
        assert store.last_seq == 1  # untouched
    finally:
        store.close()


def test_planner_store_names_the_store_and_a_bad_one_is_one_line(tmp_path):
    import os

    pg = pg_server.store_name()
    env = {**os.environ, "PLANNER_STORE": pg}
    run = [sys.executable, "-m", "planner", "--home", str(tmp_path)]
    assert subprocess.run([*run, "init"], env=env, capture_output=True, text=True, timeout=120).returncode == 0
    status = subprocess.run([*run, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(status.stdout)["seq"] == 1
    assert not (tmp_path / "projects").exists()  # nothing went to the home's file store
    bad = subprocess.run([*run, "--store", "postgresql://u:pw@/db?host=/nonexistent", "status"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "cannot connect to the PostgreSQL store" in bad.stderr and ":pw@" not in bad.stderr
