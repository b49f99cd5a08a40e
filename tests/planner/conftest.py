"""Shared by the command-line tests: the planner run as a real subprocess on a temporary home."""

import json
import subprocess
import sys

import pytest


@pytest.fixture(params=["embedded", "served"])
def mode(request, tmp_path):
    """Each command-line test runs twice: on the files directly, and through ``planner serve``."""
    if request.param == "served":
        from stress.serving import served

        with served(tmp_path):
            yield "served"
    else:
        yield "embedded"


@pytest.fixture
def run_planner(tmp_path, mode):
    """``run_planner(*args, check=True)``: ``python -m planner --home TMP *args``, embedded or
    through a server (``mode``); with ``check``, a non-zero exit fails the test with its output."""
    def run(*args: str, check: bool = True):
        result = subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path), *args],
                                capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    return run


def as_json(result):
    return json.loads(result.stdout)
