"""The library's example application (BankAccounts) on our module through a process restart:
one Python process opens and credits an account and snapshots it, then exits; a new
process (started after the first has exited: no sleeps) reads what the first wrote,
through the snapshot and the log, and goes on. Once per backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("eventsourcing")

from .. import pg_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _step(store_name: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.eventsourcing_persistence.bank_step", store_name, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k not in ("PERSISTENCE_MODULE", "EVENTSTORE_NAME")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["file", "postgresql"])
def test_bank_accounts_survive_a_restart(backend: str, tmp_path: Path) -> None:
    store_name = str(tmp_path / "store") if backend == "file" else pg_server.store_name()
    first = _step(store_name, "open")
    assert first["balance"] == "35.00" and first["version"] == 3
    assert first["notifications"] == [[1, 1], [2, 2], [3, 3]]
    assert first["snapshots"] == [2]

    second = _step(store_name, "resume", first["account"])
    assert second["pid"] != first["pid"]
    assert second["balance_before"] == "35.00"  # what the first process wrote, read by the second
    assert second["balance"] == "65.00" and second["version"] == 4
    assert second["notifications"] == [[1, 1], [2, 2], [3, 3], [4, 4]]  # notification ids are our seqs
    assert second["snapshots"] == [2, 4]
