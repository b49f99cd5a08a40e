"""The git archive: byte-identical batches, exactly once, under concurrency and kills."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dulwich.objects import Tree
from dulwich.repo import Repo

from eventstore import EventLog, EventStoreError
from eventstore.archive import (
    BRANCH,
    PER_DIR,
    Archive,
    ArchiveDivergedError,
    CommitInfo,
    EmptyArchiveError,
    InvalidTagNameError,
    TagExistsError,
    UnknownRevisionError,
)
from eventstore.segments import fast_seq

from .conftest import ev, segment_files

ROOT = Path(__file__).resolve().parents[2]


def log_lines(path: Path) -> list[bytes]:
    """Every record line of the log, from its segment files, in order."""
    return [line for seg in segment_files(path) for line in seg.read_bytes().splitlines(keepends=True)]


def tree(repo: Repo, sha: bytes, *names: bytes) -> Tree:
    obj = repo[sha]
    for name in names:
        obj = repo[obj[name][1]]
    assert isinstance(obj, Tree)
    return obj


def run_script(body: str, *args: str, **kwargs) -> subprocess.Popen:
    """Run ``body`` in a fresh interpreter with the repository importable."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(body), *args],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )


@pytest.fixture
def archive(log):
    with Archive(log, fsync=False) as handle:
        yield handle


# -- commit, history, records_at ------------------------------------------------
def test_commit_then_history(log, log_path, archive):
    assert archive.archived_seq() == 0
    assert archive.history() == []
    assert list(archive.records_at()) == []
    assert archive.commit() is None  # nothing to commit (and no repository needed to say so)

    log.append([ev("a", i=1), ev("b", i=2), ev("a", i=3)], idempotency_key="k1")
    log.append([ev("c", note="ünïcode ✓")])
    info = archive.commit()
    assert isinstance(info, CommitInfo)
    assert (info.number, info.first_seq, info.last_seq, info.events) == (1, 1, 4, 4)
    last = list(log.read(4))[0]
    assert info.seconds == int(__import__("datetime").datetime.fromisoformat(
        last.ts.replace("Z", "+00:00")).timestamp())
    assert archive.archived_seq() == 4
    assert archive.commit() is None  # nothing new

    repo = Repo(str(log_path / "archive.git"))
    try:
        assert repo.bare
        head = repo.refs[BRANCH]
        assert head.decode() == info.sha
        commit = repo[head]
        message = commit.message.decode()
        assert message.startswith("4 events (seqs 1..4)\n\n")
        assert "a: 2\nb: 1\nc: 1" in message
        assert "\nArchived-Seqs: 1..4\nArchive-Commit: 1\n" in message
        assert commit.author == commit.committer == b"superplanner <planner@localhost>"
        assert commit.commit_timezone == 0 and commit.commit_time == info.seconds
        blob = repo[tree(repo, commit.tree, b"events", b"000000")[b"001-1-4.jsonl"][1]]
        # byte-identical to the log: the segment holds exactly these four records
        assert blob.data == segment_files(log_path)[0].read_bytes()
    finally:
        repo.close()

    log.append([ev("d")])
    second = archive.commit()
    assert (second.number, second.first_seq, second.last_seq) == (2, 5, 5)
    assert archive.history() == [second, info]
    assert archive.history(limit=1) == [second]
    assert b"".join(archive.records_at()) == b"".join(log_lines(log_path))
    assert b"".join(archive.records_at(info.sha)) == b"".join(log_lines(log_path)[:4])


def test_batches_min_events_and_records_at(log, log_path, archive):
    expected_commits = []
    for round_ in range(6):
        for size in (1, 3, 2):
            log.append([ev(f"r{round_}", n=i) for i in range(size)])
        assert archive.commit(min_events=7) is None  # 6 waiting: not enough
        info = archive.commit(min_events=6)
        expected_commits.append((info.first_seq, info.last_seq))
    assert expected_commits == [(1 + 6 * r, 6 + 6 * r) for r in range(6)]
    log.append([ev("tail")])
    assert archive.commit(min_events=5) is None
    assert archive.commit(min_events=5, force=True).events == 1  # force: whatever waits
    lines = list(archive.records_at())
    assert lines == log_lines(log_path)
    assert [fast_seq(line) for line in lines] == list(range(1, 38))


def test_max_events_stops_at_a_batch_end(log, log_path, archive):
    log.append([ev("a")] * 3)
    log.append([ev("b")] * 4)
    log.append([ev("c")])
    assert archive.commit(max_events=2).last_seq == 3  # never splits the batch 1..3
    assert archive.commit(max_events=4).last_seq == 7
    assert archive.commit(max_events=1).last_seq == 8
    assert list(archive.records_at()) == log_lines(log_path)


def test_batches_across_segment_rolls(tmp_path):
    path = tmp_path / "small"
    with EventLog.open(path, create=True, durability="none", segment_bytes=1024) as log, \
            Archive(log, fsync=False) as archive:
        for i in range(40):
            log.append([ev("x", i=i, pad="p" * 40)] * (1 + i % 3))
            if i % 7 == 0:
                archive.commit()
        archive.commit()
        assert len(segment_files(path)) > 5
        assert archive.archived_seq() == log.last_seq
        assert list(archive.records_at()) == log_lines(path)
        # a fresh handle (no cached position) continues exactly where the archive ends
        log.append([ev("y")])
        with Archive(EventLog.open(path, durability="none"), fsync=False) as other:
            assert other.commit().first_seq == log.last_seq
        assert list(archive.records_at()) == log_lines(path)


def test_a_replaced_log_is_reported_not_archived(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    with EventLog.open(first, create=True, durability="none") as log:
        log.append([ev("a")] * 5)
        Archive(log, fsync=False).commit()
    with EventLog.open(second, create=True, durability="none") as log:
        log.append([ev("b")] * 5)
        log.append([ev("b")] * 2)
        shutil.copytree(first / "archive.git", second / "archive.git")
        with pytest.raises(ArchiveDivergedError, match="replaced"):
            Archive(log, fsync=False).commit()
    with EventLog.open(tmp_path / "third", create=True, durability="none") as log:
        log.append([ev("c")] * 3)
        shutil.copytree(first / "archive.git", tmp_path / "third" / "archive.git")
        with pytest.raises(ArchiveDivergedError, match="ends at seq 5"):
            Archive(log, fsync=False).commit()
        assert issubclass(ArchiveDivergedError, EventStoreError)


def test_render_and_describe(log, log_path):
    def render(records):
        files = {"count.txt": f"{records[-1].seq}\n".encode()}
        for r in records:
            if r.type == "add":
                files[f"items/{r.data['name']}.json"] = f'{{"name": "{r.data["name"]}"}}\n'.encode()
            elif r.type == "remove":
                files[f"items/{r.data['name']}.json"] = None
        return files

    archive = Archive(log, render=render, describe=lambda rs: ("custom  summary\nsecond", "the body"),
                      fsync=False)
    log.append([ev("add", name="a"), ev("add", name="b")])
    archive.commit()
    log.append([ev("remove", name="a"), ev("add", name="c")])
    info = archive.commit()
    repo = Repo(str(log_path / "archive.git"))
    try:
        commit = repo[info.sha.encode()]
        assert commit.message.decode().startswith("custom summary second\n\nthe body\n\nArchived-Seqs: 3..4\n")
        state = tree(repo, commit.tree, b"state")
        assert sorted(e.path for e in state.iteritems()) == [b"count.txt", b"items"]
        assert repo[state[b"count.txt"][1]].data == b"4\n"
        assert sorted(e.path for e in tree(repo, commit.tree, b"state", b"items").iteritems()) == [
            b"b.json", b"c.json"]
    finally:
        repo.close()
    bad = Archive(log, render=lambda rs: {"../escape": b"x"}, fsync=False)
    log.append([ev("x")])
    with pytest.raises(EventStoreError, match="relative"):
        bad.commit()
    assert archive.archived_seq() == 4  # nothing was published


# -- tags -------------------------------------------------------------------------
def test_tags(log, archive):
    with pytest.raises(EmptyArchiveError):
        archive.tag("v1")
    log.append([ev("a")] * 2)
    first = archive.commit()
    assert archive.tag("v1") == first.sha
    log.append([ev("b")])
    second = archive.commit()
    assert archive.tag("release/2", "the second release") == second.sha
    assert [(t.name, t.sha, t.archived_seq) for t in archive.tags()] == [
        ("v1", first.sha, 2), ("release/2", second.sha, 3)]
    with pytest.raises(TagExistsError, match="v1"):
        archive.tag("v1")
    for bad in ("", "a..b", "x y", "end.", "a/.hidden", "ends.lock", "a~1", "a:b", "a//b", "x@{1}"):
        with pytest.raises(InvalidTagNameError):
            archive.tag(bad)
    assert len(archive.tags()) == 2
    assert [fast_seq(line) for line in archive.records_at("v1")] == [1, 2]
    assert [fast_seq(line) for line in archive.records_at("release/2")] == [1, 2, 3]
    with pytest.raises(UnknownRevisionError):
        list(archive.records_at("nope"))


# -- processes ----------------------------------------------------------------------
APPENDER = """
    import sys
    from eventstore import EventLog
    from eventstore.archive import Archive
    path, who, batches, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with EventLog.open(path, durability="none") as log:
        archive = Archive(log, fsync=False)
        for i in range(batches):
            done = log.append([{"type": "w" + who, "data": {"i": i, "j": j}} for j in range(1 + i % 4)],
                              idempotency_key=f"{who}-{i}")
            if (i + 1) % (batches // rounds) == 0:
                while archive.archived_seq() < done.last_seq:  # so that commits and appends interleave
                    pass
"""

COMMITTER = """
    import sys
    from eventstore import EventLog
    from eventstore.archive import Archive
    path, total = sys.argv[1], int(sys.argv[2])
    with EventLog.open(path, durability="none") as log, Archive(log, fsync=False) as archive:
        print("ready", flush=True)
        while archive.archived_seq() < total:
            info = archive.commit()
            if info is not None:
                print(info.number, info.first_seq, info.last_seq, flush=True)
"""


def test_concurrent_committers_and_appenders(log, log_path):
    batches = 30
    per_appender = sum(1 + i % 4 for i in range(batches))
    total = 8 * per_appender
    committers = [run_script(COMMITTER, str(log_path), str(total)) for _ in range(4)]
    appenders = []
    made = []
    try:
        for proc in committers:
            assert proc.stdout.readline() == "ready\n"
        appenders = [run_script(APPENDER, str(log_path), str(w), str(batches), "10") for w in range(8)]
        for proc in appenders + committers:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            made += [tuple(map(int, line.split())) for line in out.splitlines()]
    finally:
        for proc in appenders + committers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert log.last_seq == total
    archive = Archive(log, fsync=False)
    assert archive.commit() is None  # the committers archived everything
    # every commit made by exactly one committer; together, every seq exactly once, in order
    made.sort()
    assert [m[0] for m in made] == list(range(1, len(made) + 1))
    assert [m[1] for m in made] == [1] + [m[2] + 1 for m in made[:-1]]
    assert made[-1][2] == total
    assert len(made) >= 10  # each appender waited ten times for its seqs to be archived
    history = archive.history()
    assert [(h.number, h.first_seq, h.last_seq) for h in reversed(history)] == made
    lines = list(archive.records_at())
    assert lines == log_lines(log_path)
    assert [fast_seq(line) for line in lines] == list(range(1, total + 1))
    git = shutil.which("git")
    if git is not None:
        repo = str(log_path / "archive.git")
        fsck = subprocess.run([git, "--git-dir", repo, "fsck", "--strict"], capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        oneline = subprocess.run([git, "--git-dir", repo, "log", "--oneline", "main"],
                                 capture_output=True, text=True, check=True)
        assert len(oneline.stdout.splitlines()) == len(made)


KILLED_COMMITTER = """
    import os, sys
    import dulwich.file
    from eventstore import EventLog
    from eventstore.archive import Archive
    path, where = sys.argv[1], sys.argv[2]

    def hang():
        print("ready", flush=True)
        sys.stdin.read()  # blocks until the test kills us

    if where == "before_ref":
        Archive._publish = lambda self, repo, old, new: hang()
    else:
        close = dulwich.file._GitFile.close
        def hanging_close(self):
            name = os.fsdecode(self._filename)
            if (where == "inside_ref" and name.endswith("refs/heads/main")) or (
                    where == "object" and "/objects/" in name):
                hang()  # the .lock file is written, not yet renamed
            return close(self)
        dulwich.file._GitFile.close = hanging_close
    with EventLog.open(path, durability="none") as log:
        Archive(log, fsync=False).commit()
"""


@pytest.mark.parametrize("where", ["object", "before_ref", "inside_ref"])
def test_a_committer_killed_mid_commit_blocks_nobody(log, log_path, where):
    log.append([ev("a", i=i) for i in range(3)])
    log.append([ev("b")])
    archive = Archive(log, fsync=False)
    if where != "object":
        archive.commit()  # so that the killed commit has a parent
        log.append([ev("c")] * 2)
    proc = run_script(KILLED_COMMITTER, str(log_path), where, stdin=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == "ready\n"
        before = archive.archived_seq()
        assert archive.commit() is None  # it holds the archive lock
        if where == "inside_ref":
            assert (log_path / "archive.git" / "refs" / "heads" / "main.lock").exists()
        if where == "object":
            assert list((log_path / "archive.git" / "objects").glob("*/*.lock"))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert archive.archived_seq() == before  # nothing of the killed commit is visible
    info = archive.commit()  # the same batch again (same objects): stale .lock files are cleared
    assert info is not None and info.last_seq == log.last_seq
    log.append([ev("d")])
    assert archive.commit().first_seq == log.last_seq
    assert list(archive.records_at()) == log_lines(log_path)
    assert [h.number for h in archive.history()] == list(range(len(archive.history()), 0, -1))
    git = shutil.which("git")
    if git is not None:
        fsck = subprocess.run([git, "--git-dir", str(log_path / "archive.git"), "fsck", "--strict"],
                              capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr


# -- cost ---------------------------------------------------------------------------
def test_a_commit_rewrites_only_bounded_trees(log, log_path, archive, monkeypatch):
    commits = 2500
    for i in range(commits):
        log.append([ev("x", i=i)])
        assert archive.commit() is not None
    written = []
    store = Archive._store
    monkeypatch.setattr(Archive, "_store", lambda self, repo, objects: (written.extend(objects),
                                                                         store(self, repo, objects)))
    log.append([ev("x", i=commits)])
    info = archive.commit()
    assert info.number == commits + 1
    trees = [obj for obj in written if isinstance(obj, Tree)]
    assert len(trees) == 3  # events/<N>, events, root: nothing else is rewritten
    assert max(len(t) for t in trees) <= PER_DIR
    repo = Repo(str(log_path / "archive.git"))
    try:
        root = tree(repo, repo[repo.refs[BRANCH]].tree)
        assert [e.path for e in root.iteritems()] == [b"events"]
        events = tree(repo, root.id, b"events")
        assert [e.path for e in events.iteritems()] == [b"000000", b"000001", b"000002"]
        sizes = [len(tree(repo, events.id, e.path)) for e in events.iteritems()]
        assert sizes == [PER_DIR - 1, PER_DIR, commits + 1 - 2 * PER_DIR + 1]
    finally:
        repo.close()
    assert [fast_seq(line) for line in archive.records_at()] == list(range(1, commits + 2))


def test_loose_objects_are_packed_every_few_commits_and_stay_readable(log, log_path, archive):
    """Packs keep the repository near the log's size (a loose object costs a whole block);
    everything stays readable, by dulwich and by git."""
    archive.pack_every = 4
    store = log_path / "archive.git" / "objects"

    def loose() -> int:
        return sum(1 for d in store.iterdir() if len(d.name) == 2 for _ in d.iterdir())

    for n in range(1, 21):
        log.append([ev(f"c{n}", n=i) for i in range(3)])
        assert archive.commit().number == n
        if n % 4 == 0:
            assert loose() == 0, f"commit {n}: loose objects left after packing"
            packs = list((store / "pack").glob("*.pack"))
            assert len(packs) == {4: 1, 8: 2, 12: 3, 16: 1, 20: 2}[n], (n, packs)  # 16 = 4²: all in one
        else:
            assert loose() > 0
    assert list(archive.records_at()) == log_lines(log_path)
    assert [h.number for h in archive.history()] == list(range(20, 0, -1))
    git = shutil.which("git")
    if git is not None:
        fsck = subprocess.run([git, "--git-dir", str(log_path / "archive.git"), "fsck", "--strict"],
                              capture_output=True, text=True)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
