"""The git archive and restore from a PostgreSQL store: the archive reads through the storage
protocol into the home's ``archives/<project>``, holds the same bytes as a file store's archive
of the same records, and rebuilds the project exactly (whole, or up to a recovery point) in a
store that lost it; a project that holds records is never overwritten."""

from __future__ import annotations

import json

from eventstore import open_store
from eventstore.archive import Archive
from planner.engine.engine import archives_dir
from tests import pg_server
from tests.planner.test_migrate import batches, planner


def archive_lines(directory) -> list[bytes]:
    with Archive(None, directory=directory) as archive:
        return list(archive.records_at())


def test_a_postgresql_project_is_archived_and_rebuilt_exactly_from_the_archive(tmp_path):
    home, files = tmp_path / "home", tmp_path / "files"
    pg = pg_server.store_name()
    planner(home, "init", store=pg)
    for i in range(4):
        planner(home, "add", f"task {i}", *(["--after", f"T{i}"] if i else []), store=pg)
    planner(home, "mode", "working", store=pg)
    planner(home, "agent", "register", "a1", store=pg)
    claimed = json.loads(planner(home, "--json", "claim", "a1", store=pg).stdout)
    first = json.loads(planner(home, "--json", "commit", store=pg).stdout)
    planner(home, "checkpoint", "create", "before-work", store=pg)
    planner(home, "set", claimed["task"], "in_progress", "--by", "a1", "--token", str(claimed["token"]), store=pg)
    planner(home, "commit", store=pg)
    log = json.loads(planner(home, "--json", "log", store=pg).stdout)
    assert [c["last_seq"] for c in log] == [batches(pg, "default")[-1][-1].seq, first["last_seq"]]

    # the same bytes as the archive a file store makes of the same records
    planner(home, "migrate", "--to", str(files), store=pg)
    planner(home, "commit", store=str(files))
    archived = archive_lines(archives_dir(home, "default"))
    assert archived == archive_lines(files / "default")
    assert len(archived) == batches(pg, "default")[-1][-1].seq

    # the database is lost: rebuilt whole from this home's archive, then used
    lost = pg_server.store_name()
    rebuilt = json.loads(planner(home, "--json", "restore", store=lost).stdout)
    assert rebuilt["last_seq"] == len(archived) and rebuilt["verified"] is True
    assert batches(lost, "default") == batches(pg, "default")
    assert json.loads(planner(home, "--json", "show", claimed["task"], store=lost).stdout)["state"] == "in_progress"

    # back to a recovery point: needs --yes, then holds exactly the events up to it
    point = pg_server.store_name()
    refused = planner(home, "restore", "--to", "before-work", store=point, check=False)
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1 and "--yes" in refused.stderr
    assert open_store(point, "default", create=True).last_seq == 0  # nothing written
    back = json.loads(planner(home, "--json", "restore", "--to", "before-work", "--yes", store=point).stdout)
    assert back["last_seq"] == first["last_seq"]
    assert batches(point, "default") == [b for b in batches(pg, "default") if b[-1].seq <= first["last_seq"]]

    # a project that holds records is never overwritten
    for store, says in ((pg, "nothing to rebuild"), (point, "never overwrites")):
        kept = batches(store, "default")
        again = planner(home, "restore", store=store, check=False)
        assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1 and says in again.stderr
        assert batches(store, "default") == kept
