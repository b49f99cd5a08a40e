"""The command line, through a real subprocess; --json output parsed."""

import json
import subprocess
import sys

import pytest

from .conftest import as_json


@pytest.fixture
def cli(run_planner):
    run_planner("init")
    return run_planner


def test_a_small_plan_end_to_end(cli):
    assert as_json(cli("--json", "add", "Design schema", "--priority", "high")) == {"id": "T1"}
    cli("add", "Build API", "--after", "T1")
    cli("add", "Backend", "--id", "BE")
    cli("add", "Handlers", "--parent", "BE", "--cap", "python")
    assert [t["id"] for t in as_json(cli("ready", "--json"))] == ["T1", "T4"]
    cli("set", "T1", "in_progress")
    cli("set", "T1", "completed")
    assert [t["id"] for t in as_json(cli("ready", "--json"))] == ["T2", "T4"]
    status = as_json(cli("status", "--json"))
    assert status["tasks"] == 4 and status["leaves_by_state"] == {"completed": 1, "pending": 2}
    tree = as_json(cli("tree", "--json"))
    assert [n["id"] for n in tree] == ["T1", "T2", "BE"] and tree[2]["children"][0]["id"] == "T4"
    edited = as_json(cli("edit", "T2", "--priority", "critical", "--effort", "3", "--cap", "go", "--json"))
    assert (edited["priority"], edited["effort"], edited["capabilities"]) == ("critical", 3.0, ["go"])
    history = as_json(cli("history", "T1", "--json"))
    assert [e["type"] for e in history] == ["task.added", "dependency.added", "task.state_changed",
                                            "task.state_changed"]
    replay = as_json(cli("replay", "--verify", "--json"))
    assert replay["verified"] and replay["tasks"] == 4
    assert as_json(cli("replay", "--at", "3", "--json"))["tasks"] == 2
    history = as_json(cli("history", "T2", "--json"))  # T2's edit is stamped after T1 was added
    at_time = as_json(cli("replay", "--at", history[0]["ts"], "--json"))
    edited_at = next(e["seq"] for e in history if e["type"] == "task.edited")
    assert history[0]["seq"] <= at_time["seq"] < edited_at  # T2's batch, nothing from a later command
    assert as_json(cli("replay", "--at", "2000-01-01T00:00:00Z", "--json"))["seq"] == 0
    bad = cli("replay", "--at", "yesterday", check=False)
    assert bad.returncode == 2 and "neither a seq nor an ISO 8601 time" in bad.stderr


@pytest.mark.parametrize("args, kind, text", [
    (["dep", "add", "T1", "T2"], "CycleError", "T1 -> T2 (new), T2 -> T1"),
    (["show", "NOPE"], "UnknownTask", "unknown task 'NOPE'"),
    (["set", "T1", "completed"], "IllegalTransition", "can go to"),
    (["add", "bad id", "--id", "has space"], "ValidationError", "invalid id"),
])
def test_errors_are_one_line_and_json_with_json(cli, args, kind, text):
    cli("add", "one")
    cli("add", "two", "--after", "T1")
    before = as_json(cli("status", "--json"))["seq"]
    plain = cli(*args, check=False)
    assert plain.returncode == 2 and plain.stdout == ""
    assert plain.stderr.count("\n") == 1 and text in plain.stderr and "Traceback" not in plain.stderr
    for where in (["--json", *args], [*args, "--json"]):  # --json before or after the command
        result = cli(*where, check=False)
        error = as_json(result)["error"]
        assert result.returncode == 2 and error["type"] == kind and text in error["message"]
    assert as_json(cli("status", "--json"))["seq"] == before  # nothing was written


def test_a_missing_project_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path), "--project", "none",
                             "status", "--json"], capture_output=True, text=True, timeout=120)
    error = as_json(result)["error"]
    assert result.returncode == 2 and error["type"] == "ProjectNotFound" and "planner init" in error["message"]


def test_init_sets_the_depth_limit_and_add_records_a_verify_command(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path), "--project", "shallow",
                               *args], capture_output=True, text=True, timeout=120)

    assert json.loads(run("--json", "init", "--max-depth", "2").stdout)["max_depth"] == 2
    run("add", "top", "--id", "a")
    run("add", "mid", "--id", "b", "--parent", "a", "--verify-command", "pytest tests/b")
    assert json.loads(run("--json", "show", "b").stdout)["verify_command"] == "pytest tests/b"
    deep = run("add", "deep", "--parent", "b")
    assert deep.returncode == 2 and "over the project's limit of 2" in deep.stderr
    bad = run("--project", "x", "init", "--max-depth", "0")
    assert bad.returncode == 2 and "max_depth" in bad.stderr


def test_the_command_list_is_the_parsers():
    """The CLI builds only the parser of the command being run; its list of commands must be whole."""
    from planner.cli import cli as module

    full = module._parser()
    choices = next(a for a in full._actions if a.dest == "command").choices
    assert set(choices) == module.COMMANDS
    assert module._command_in(["--home", "ready", "--project", "show", "ready", "--json"]) == "ready"
    assert module._command_in(["ready", "--help"]) is None and module._command_in(["nosuch"]) is None
