"""Shared by the command-line tests: the planner run as a real subprocess on a temporary home."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(params=["embedded", "served", "postgres"])
def mode(request, tmp_path, monkeypatch):
    """Each command-line test runs three times: on the files directly, through ``planner serve``,
    and on a PostgreSQL store (``PLANNER_STORE``: a fresh schema of the session's cluster)."""
    if request.param == "served":
        from stress.serving import served

        with served(tmp_path):
            yield "served"
    elif request.param == "postgres":
        from tests import pg_server

        monkeypatch.setenv("PLANNER_STORE", pg_server.store_name())  # (inherited by every planner process)
        yield "postgres"
    else:
        yield "embedded"


@pytest.fixture
def run_planner(tmp_path, mode):
    """``run_planner(*args, check=True)``: ``python -m planner --home TMP *args``, embedded, through
    a server or on PostgreSQL (``mode``); with ``check``, a non-zero exit fails the test with its output."""
    def run(*args: str, check: bool = True):
        result = subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path), *args],
                                capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run


def as_json(result):
    return json.loads(result.stdout)
