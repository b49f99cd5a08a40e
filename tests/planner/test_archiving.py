"""The planner's git archive: batching thresholds, readable commits, the user's repository untouched."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from eventstore.archive import Archive
from planner import Planner

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="the git binary checks the result")


def history(p):
    """The archive's commits, once the background committer a command may have started is done."""
    import psutil

    from stress.procs import committers

    psutil.wait_procs(committers(p.log.path.parent.parent), timeout=60)  # (waiting for them to exit, not for time)
    with Archive(p.log) as archive:
        return archive.history()


def test_commits_come_every_n_events_with_a_readable_message_and_state(tmp_path):
    with Planner.open(tmp_path, "p", create=True, durability="none", archive_every=5, archive_interval=0) as p:
        for i in range(4):
            p.add_task(f"task {i}", id=f"t{i}")  # 1 + 4 events: the fifth crosses the threshold
        assert [c.last_seq for c in history(p)] == [5]
        for i in range(4, 8):
            p.add_task(f"task {i}", id=f"t{i}")
        p.transition("t0", "in_progress")
        assert [(c.first_seq, c.last_seq) for c in history(p)] == [(6, 10), (1, 5)]
        from dulwich.repo import Repo

        repo = Repo(str(tmp_path / "projects" / "p" / "archive.git"))
        head = repo[repo.refs[b"refs/heads/main"]]
        message = head.message.decode()
        state = repo[repo[head.tree][b"state"][1]]
        tasks = repo[state[b"tasks"][1]]
        lines = [json.loads(line) for _, _, sha in tasks.iteritems() for line in repo[sha].data.splitlines()]
        repo.close()
        assert message.startswith("5 events: 4 added, 1 in_progress") and "Tasks: t0, t4, t5, t6, t7" in message
        assert {row["id"]: row["state"] for row in lines if row["id"] in ("t0", "t4")} == \
            {"t0": "in_progress", "t4": "pending"}  # the shards this batch touched, as of its last seq


def test_the_time_threshold_commits_on_the_next_write(tmp_path):
    with Planner.open(tmp_path, "p", create=True, durability="none", archive_every=1000, archive_interval=60) as p:
        p.add_task("a", id="a")
        assert history(p) == []
    mark = tmp_path / "projects" / "p" / "archive.seq"
    os.utime(mark, (mark.stat().st_atime, mark.stat().st_mtime - 61))  # the last commit, a minute ago
    with Planner.open(tmp_path, "p", durability="none", archive_every=1000, archive_interval=60) as p:
        p.add_task("b", id="b")  # the next write, in a process that has not looked at the mark yet
        assert [c.last_seq for c in history(p)] == [3]


@needs_git
def test_a_planner_home_inside_the_users_repository_leaves_it_untouched(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q", "-b", "trunk")
    (tmp_path / "README").write_text("mine\n")
    git("add", "README")
    git("-c", "user.name=me", "-c", "user.email=me@example.com", "commit", "-qm", "mine")
    (tmp_path / "README").write_text("mine, edited\n")  # a change the user has not staged
    before = (git("rev-parse", "HEAD"), git("branch", "--list"), git("diff", "--cached"), git("diff"),
              git("tag", "--list"))
    home = tmp_path / ".planner"
    run = [sys.executable, "-m", "planner", "--home", str(home)]
    for args in (["init"], ["add", "x"], ["commit"], ["checkpoint", "create", "v1"], ["add", "y"], ["commit"]):
        subprocess.run([*run, *args], check=True, capture_output=True, cwd=tmp_path)
    after = (git("rev-parse", "HEAD"), git("branch", "--list"), git("diff", "--cached"), git("diff"),
             git("tag", "--list"))
    assert after == before  # HEAD, branches, index, working-tree changes and tags: all the user's, as they were
    archive = home / "projects" / "default" / "archive.git"
    assert subprocess.run(["git", "-C", str(archive), "fsck", "--strict"], capture_output=True).returncode == 0
    log = subprocess.run(["git", "-C", str(archive), "log", "--oneline", "main"], capture_output=True, text=True)
    assert len(log.stdout.splitlines()) == 2
    tags = subprocess.run(["git", "-C", str(archive), "tag"], capture_output=True, text=True).stdout.split()
    assert tags == ["v1"]


def test_planner_restore_after_mid_log_damage_and_back_to_a_recovery_point(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=120)

    cli("init")
    for i in range(6):
        cli("add", f"task {i}", "--id", f"t{i}")
    assert cli("checkpoint", "create", "six").returncode == 0  # commits seqs 1..7, tags them
    cli("add", "after the point", "--id", "late")
    segment = next((tmp_path / "projects" / "default" / "log").glob("*.jsonl"))
    raw = bytearray(segment.read_bytes())
    raw[raw.index(b'"t2"') + 1] ^= 0x01  # a record in the archived part: mid-log damage
    segment.write_bytes(bytes(raw))
    assert cli("status").returncode == 2  # damaged: the planner refuses rather than guess
    restored = json.loads(cli("--json", "restore").stdout)
    assert restored["verified"] and restored["last_seq"] == 8 and restored["salvaged"]["count"] == 1
    assert json.loads(cli("--json", "show", "late").stdout)["title"] == "after the point"
    refused = cli("restore", "--to", "six")
    assert refused.returncode == 2 and "1" in refused.stderr and "--yes" in refused.stderr
    back = json.loads(cli("--json", "restore", "--to", "six", "--yes").stdout)
    assert back["last_seq"] == 7 and back["verified"]
    assert cli("show", "late").returncode == 2  # gone from the log (kept in quarantine)
    assert cli("add", "again", "--id", "again").returncode == 0
