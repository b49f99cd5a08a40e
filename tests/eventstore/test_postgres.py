"""What only the PostgreSQL store has to get right (the shared behaviour is tests/conformance):
its URL and errors, the schema version and migrations, exact JSON, a connection lost mid-append,
the lock timeout, and listing projects without creating anything."""

from __future__ import annotations

import pytest

from eventstore import (
    ConcurrencyConflict,
    InvalidArgumentError,
    LockTimeoutError,
    LogNotFoundError,
    NotALogError,
    list_projects,
    open_store,
)
from tests import pg_server

from .conftest import ev

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def name() -> str:
    return pg_server.store_name()


@pytest.fixture
def store(name):
    handle = open_store(name, "p", create=True)
    yield handle
    handle.close()


def sql(name: str, query: str, *params):
    """Run ``query`` (``{s}``: the store's schema) on a connection of its own; its rows, if any."""
    from eventstore.postgres.names import parse

    parsed = parse(name)
    with psycopg.connect(parsed.conninfo, autocommit=True) as conn:
        cur = conn.execute(query.format(s=f'"{parsed.schema}"'), params)
        return cur.fetchall() if cur.description else None


@pytest.mark.parametrize("url, message", [
    ("postgresql://u:secret@localhost:notaport/db", "bad PostgreSQL store URL 'postgresql://u:***@localhost:notaport/db'"),
    ("postgresql:///db?schema=Not-An-Identifier", "bad schema 'Not-An-Identifier'"),
    ("postgresql:///db?no_such_option=1", "bad PostgreSQL store URL"),
])
def test_a_bad_url_is_refused_in_one_line_without_the_password(url, message):
    with pytest.raises(InvalidArgumentError) as caught:
        open_store(url, "p", create=True)
    assert message in str(caught.value) and "secret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_unreachable_server_says_so_in_one_line(tmp_path):
    from eventstore.postgres import StoreUnavailableError

    url = f"postgresql://someone:secret@/db?host={tmp_path}&connect_timeout=2"
    with pytest.raises(StoreUnavailableError) as caught:
        open_store(url, "p")
    text = str(caught.value)
    assert "cannot connect to the PostgreSQL store" in text and "***" in text and "secret" not in text
    assert "\n" not in text


def test_a_missing_project_is_not_found_and_nothing_is_created(name):
    with pytest.raises(LogNotFoundError, match="no event log at postgresql://"):
        open_store(name, "absent")
    assert list_projects(name) == []
    assert sql(name, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
               name.rsplit("schema=", 1)[1]) == [(0,)]  # not even the schema


def test_the_schema_is_versioned_and_a_newer_one_is_refused(name, store):
    from eventstore.postgres.schema import VERSION

    assert sql(name, "SELECT version FROM {s}.schema_version") == [(VERSION,)]
    open_store(name, "q", create=True).close()  # a second open migrates nothing
    assert sql(name, "SELECT version FROM {s}.schema_version") == [(VERSION,)]
    sql(name, "INSERT INTO {s}.schema_version (version) VALUES (%s)", VERSION + 1)
    with pytest.raises(NotALogError, match="newer than this code"):
        open_store(name, "p")


def test_data_keeps_its_exact_json(name, store):
    data = {"z": 1, "a": 2, "big": 1e308, "tiny": 5e-324, "nul": "a\x00b", "int": 2**64 - 1, "neg": -2**63,
            "nested": {"b": [1.0, -0.0, "é"], "a": None}}
    store.append([{"type": "t", "data": data}])
    (record,) = store.read()
    assert record.data == data and list(record.data) == list(data) and list(record.data["nested"]) == ["b", "a"]
    assert type(record.data["big"]) is float and type(record.data["nested"]["b"][0]) is float
    with pytest.raises(InvalidArgumentError):
        store.append([ev()], idempotency_key="nul\x00key")


def test_a_connection_lost_mid_append_writes_nothing_and_the_handle_reconnects(name, store):
    from eventstore.postgres import ConnectionLostError

    store.append([ev(i=1)])
    with pytest.raises(ConnectionLostError) as caught, store.transaction() as tx:
        tx.append([ev(i=2), ev(i=3)], idempotency_key="lost")
        (pid,) = store._conn.execute("SELECT pg_backend_pid()").fetchone()
        sql(name, "SELECT pg_terminate_backend(%s)", pid)
    assert caught.value.committed is False and "nothing of it was written" in str(caught.value)
    assert "project 'p'" in str(caught.value)
    assert store.last_seq == 1  # a new connection, and nothing of the lost transaction
    assert store.append([ev(i=2)], idempotency_key="lost").first_seq == 2


def test_an_append_waits_for_the_lock_at_most_lock_timeout(name, store):
    other = open_store(name, "p", lock_timeout=0.2)
    try:
        with store.transaction(), pytest.raises(LockTimeoutError):
            other.append([ev()])
        assert other.append([ev()], expected_seq=0).first_seq == 1
        with pytest.raises(ConcurrencyConflict):
            other.append([ev()], expected_seq=0)
    finally:
        other.close()


def test_the_lock_is_the_projects_row_so_projects_do_not_wait_for_each_other(name, store):
    other = open_store(name, "q", create=True, lock_timeout=0.2)
    try:
        with store.transaction() as tx:
            tx.append([ev()])
            assert other.append([ev()]).first_seq == 1  # a different project: no wait
    finally:
        other.close()
    assert list_projects(name) == ["p", "q"]


def test_each_commit_notifies_the_projects_channel_once(name, store):
    from eventstore.postgres.names import parse

    listener = psycopg.connect(parse(name).conninfo, autocommit=True)
    try:
        listener.execute(f'LISTEN "{store.channel}"')
        store.append([ev(), ev()])
        with store.transaction() as tx:
            tx.append([ev()])
            tx.append([ev()])
        got = [n.payload for n in listener.notifies(timeout=5, stop_after=2)]
    finally:
        listener.close()
    assert got == ["2", "4"]


def test_the_wal_flush_follows_the_commit_and_defer_flush_leaves_it_to_flush(name, store):
    reader = open_store(name, "p")
    try:
        with store.transaction(defer_flush=True) as tx:
            tx.append([ev(i=1)])
        assert tx._unflushed and reader.last_seq == 1  # committed (others see it), the flush still owed
        tx.flush()
        tx.flush()  # idempotent
        assert not tx._unflushed
        with store.transaction(defer_flush=True) as empty:
            pass
        empty.flush()  # nothing written: nothing owed
        store.append([ev(i=2)])  # flushed before it returns
        # the commit turned synchronous_commit off for its own transaction only
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    finally:
        reader.close()


def test_after_a_lost_connection_the_outcome_is_found_by_the_first_records_id(store):
    """What decides ``committed`` when a connection dies while the writes and COMMIT (sent together)
    are under way: once the dead session's lock is free, is the transaction's first record there?"""
    from types import SimpleNamespace

    store.append([ev(i=1), ev(i=2)])
    (first, _) = list(store.read())
    assert store._resolve(SimpleNamespace(_base=0, _buffer=[(first.id, "t", None, "{}")])) is True
    assert store._resolve(SimpleNamespace(_base=0, _buffer=[("someone else's", "t", None, "{}")])) is False
    assert store._resolve(SimpleNamespace(_base=2, _buffer=[(first.id, "t", None, "{}")])) is False  # not written
    assert not store._unknown and store.last_seq == 2  # (and the handle goes on, on the new connection)


def test_an_append_whose_flush_failed_is_handed_over_by_the_next_transaction(store, monkeypatch):
    """Committed, but the caller was told it failed (a server restart during the flush): its next
    transaction hands the records over, so that the caller's state does not miss them."""
    from eventstore.postgres import ConnectionLostError

    with store.transaction() as tx:
        assert tx.records == []
        tx.append([ev(i=0)])

    def lost():
        raise ConnectionLostError("somewhere", "p", "flushing an append to", "gone", committed=None)

    monkeypatch.setattr(store, "_flush", lost)
    with pytest.raises(ConnectionLostError), store.transaction() as tx:
        tx.append([ev(i=1)], idempotency_key="k1")
    monkeypatch.undo()
    with store.transaction() as tx:
        assert [r.cmd for r in tx.records] == ["k1"]  # committed: handed over, not skipped
        assert tx.seen("k1") is not None  # and a retry with its key is a duplicate
