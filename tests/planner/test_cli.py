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
    assert [t["id"] for t in as_json(cli("ready", "--json"))] == ["T1", "T3"]  # (BE takes no number)
    cli("set", "T1", "in_progress")
    cli("set", "T1", "completed")
    assert [t["id"] for t in as_json(cli("ready", "--json"))] == ["T2", "T3"]
    status = as_json(cli("status", "--json"))
    assert status["tasks"] == 4 and status["leaves_by_state"] == {"completed": 1, "pending": 2}
    tree = as_json(cli("tree", "--json"))
    assert [n["id"] for n in tree] == ["T1", "T2", "BE"] and tree[2]["children"][0]["id"] == "T3"
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
    (["add", "bad id", "--id", "has space"], "ValidationError", "invalid --id 'has space'"),
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


def test_ready_shows_the_best_twenty_unless_told_otherwise(cli):
    plan = {"tasks": [{"id": f"t{i:02}", "title": f"task {i}", "priority": "high" if i >= 20 else "low"}
                      for i in range(25)]}
    for task in plan["tasks"]:
        cli("add", task["title"], "--id", task["id"], "--priority", task["priority"])
    best = as_json(cli("ready", "--json"))
    assert len(best) == 20 and [t["id"] for t in best[:5]] == ["t20", "t21", "t22", "t23", "t24"]
    assert len(as_json(cli("ready", "--json", "--all"))) == 25
    assert [t["id"] for t in as_json(cli("ready", "--json", "--limit", "2"))] == ["t20", "t21"]
    text = cli("ready").stdout
    assert "(20 of 25 ready tasks; --all shows every one)" in text and "t24" in text
    assert "of 25 ready" not in cli("ready", "--all").stdout
    bad = cli("ready", "--limit", "0", check=False)
    assert bad.returncode == 2 and "expected a whole number of 1 or more, not '0'" in bad.stderr
    both = cli("ready", "--limit", "3", "--all", check=False)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_commands_that_change_something_say_what_they_did(cli):
    cli("add", "a")
    cli("add", "b", "--after", "T1")
    assert cli("mode", "working").stdout == "project default: working (agents may claim)\n"
    assert cli("mode", "working").stdout == "project default: already working (agents may claim)\n"
    assert cli("set", "T1", "in_progress").stdout == "T1: pending -> in_progress\n"
    assert cli("set", "T1", "in_progress").stdout == "T1 was already in_progress: nothing changed\n"
    assert cli("edit", "T2", "--priority", "high", "--effort", "3").stdout == "T2: priority high, effort 3.0\n"
    assert cli("dep", "rm", "T2", "T1").stdout == "T2 no longer waits on T1\n"
    assert cli("dep", "add", "T2", "T1").stdout == "T2 now waits on T1\n"
    cli("add", "c")
    assert cli("move", "T3", "T2").stdout == "T3 moved under T2\n"
    assert cli("move", "T3", "--top").stdout == "T3 moved to the top\n"
    cli("set", "T1", "completed")
    cli("agent", "register", "w1")
    token = as_json(cli("claim", "w1", "--json"))["token"]
    said = cli("set", "T2", "failed", "--token", str(token)).stdout
    assert said == "T2: failed, and back to pending for another attempt (1 of 3 used)\n"
    assert as_json(cli("show", "T2", "--json"))["state"] == "pending"


@pytest.mark.parametrize("args, message", [
    (["add", "x", "--priority", "urgent"], "planner add: argument --priority: invalid choice: 'urgent'"),
    (["ready", "--limit", "x"], "planner ready: argument --limit: expected a whole number of 1 or more, not 'x'"),
    (["frobnicate"], "planner: argument COMMAND: invalid choice: 'frobnicate'"),
])
def test_argument_errors_are_one_line_or_json(cli, args, message):
    plain = cli(*args, check=False)
    assert plain.returncode == 2 and plain.stdout == "" and plain.stderr.count("\n") == 1
    assert plain.stderr.startswith(message) and "--help`)" in plain.stderr and "usage:" not in plain.stderr
    as_json_ = cli("--json", *args, check=False)
    assert as_json_.returncode == 2 and as_json_.stderr == ""
    error = json.loads(as_json_.stdout)["error"]
    assert error["type"] == "UsageError" and error["message"].startswith(message)


def test_a_home_that_is_a_file_or_a_long_name_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a home")
    for home in (blocker, blocker / "below"):
        result = subprocess.run([sys.executable, "-m", "planner", "--home", str(home), "init"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr == f"planner: {home}/projects/default is not an event log: {blocker} is a file, " \
                                "not a directory\n"
    for name in ("x" * 300, "héllo", "two words"):
        result = subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path / "h"), "--project", name,
                                 "init"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "is not a project name: use 1 to 100 ASCII letters" in result.stderr


def test_messages_speak_cli_not_python(run_planner):
    missing = run_planner("status", check=False)
    assert missing.stderr.endswith("create it with `planner init`\n") and "Planner.open" not in missing.stderr
    run_planner("init")
    bad = run_planner("add", "x", "--id", "has space", check=False)
    assert bad.stderr == ("planner: invalid --id 'has space': use up to 128 ASCII letters, digits, '.', '_', ':' "
                          "and '-', starting with a letter or digit\n")


def test_init_on_an_existing_project_says_so_and_refuses_new_settings(run_planner):
    assert run_planner("init", "--lease-ttl", "60").stdout.startswith("project default ready in ")
    again = run_planner("init")
    assert again.returncode == 0 and again.stdout.endswith(": nothing changed\n")
    refused = run_planner("init", "--max-depth", "3", "--max-attempts", "5", check=False)
    assert refused.returncode == 2 and refused.stderr.endswith(
        "--max-depth, --max-attempts apply only when a project is created (it keeps max depth 8, lease TTL 60 s, "
        "max attempts 3)\n")
    assert as_json(run_planner("status", "--json"))["max_depth"] == 8


def test_import_reads_stdin_with_a_format_and_checked_items_start_completed(run_planner, tmp_path):
    run_planner("init")
    outline = "- Shop {#shop}\n  - [x] Pick a name\n  - [ ] Routes {after=pick-a-name}\n"
    result = subprocess.run([sys.executable, "-m", "planner", "--home", str(tmp_path), "--json", "import", "-",
                             "--format", "md"], input=outline, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout)["imported"] == 3, result.stderr
    assert as_json(run_planner("show", "pick-a-name", "--json"))["state"] == "completed"
    assert [t["id"] for t in as_json(run_planner("ready", "--json"))] == ["routes"]
    plain = tmp_path / "plan.txt"
    plain.write_text(outline)
    guessed = run_planner("import", str(plain), check=False)
    assert guessed.returncode == 2 and "is it JSON or a Markdown outline? name it .json or .md, or say which " \
                                      "with --format json|md" in guessed.stderr


def test_version(run_planner):
    from importlib.metadata import version

    assert run_planner("--version").stdout == f"planner {version('superplanner')}\n"


def test_watch_into_a_pipe_prints_one_line_per_event(run_planner, tmp_path):
    import signal

    run_planner("init")
    watcher = subprocess.Popen([sys.executable, "-m", "planner", "--home", str(tmp_path), "watch"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout.readline().startswith("watching from seq 2")  # it follows from here on
        run_planner("add", "Design", "--id", "design")
        line = watcher.stdout.readline()
        assert line.split()[0] == "2" and "task.added" in line and "design" in line
        run_planner("mode", "working")
        assert watcher.stdout.readline().split()[0] == "3"
    finally:
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0 and "Traceback" not in err


def test_output_for_people_is_plain(cli):
    cli("add", "Backend", "--id", "be", "--priority", "HIGH")
    cli("add", "Models", "--parent", "be")
    cli("add", "UI", "--after", "be")
    status = cli("status").stdout
    assert "3 tasks (2 to do, 1 grouping them)" in status and "the 2 tasks to do, by state:" in status
    shown = cli("show", "T2").stdout  # (be took no number: Models is T1, UI T2)
    assert "depends_on: be" in shown and "parent: -" in shown and "['" not in shown and "None" not in shown
    assert as_json(cli("show", "be", "--json"))["priority"] == "high"
    assert cli("log").stdout.startswith("no commits in the git archive yet")


def test_queries_show_the_project_as_it_was_at_a_seq_or_time(cli):
    cli("add", "a")
    cli("add", "b", "--after", "T1")
    cli("mode", "working")
    cli("agent", "register", "w1")
    lease = as_json(cli("claim", "w1", "--json"))
    claimed_at = as_json(cli("status", "--json"))["seq"]
    cli("set", "T1", "in_progress", "--token", str(lease["token"]))
    cli("set", "T1", "completed", "--token", str(lease["token"]))
    assert as_json(cli("status", "--json", "--at", "3"))["tasks"] == 2
    assert as_json(cli("show", "T1", "--json", "--at", "3"))["state"] == "pending"
    assert [t["id"] for t in as_json(cli("ready", "--json", "--at", "3"))] == ["T1"]
    assert [t["id"] for t in as_json(cli("ready", "--json"))] == ["T2"]
    assert [n["id"] for n in as_json(cli("tree", "--json", "--at", "2"))] == ["T1"]
    then = as_json(cli("agents", "--json", "--at", str(claimed_at)))[0]
    assert [x["task"] for x in then["leases"]] == ["T1"] and then["leases"][0]["expires_in"] == pytest.approx(300)
    assert as_json(cli("agents", "--json"))[0]["leases"] == []
    ts = next(e["ts"] for e in as_json(cli("history", "T1", "--json")) if e["type"] == "task.assigned")
    assert as_json(cli("show", "T1", "--json", "--at", ts))["state"] == "assigned"
    beyond = cli("status", "--at", "999", check=False)
    assert beyond.returncode == 2 and "beyond the end of the log" in beyond.stderr


def test_every_option_and_argument_has_help():
    import argparse

    from planner.cli.cli import _parser

    parser = _parser()
    missing = []

    def check(p, name):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    check(sub, f"{name} {sub_name}")
            elif not action.help and not isinstance(action, argparse._HelpAction):
                missing.append(f"{name}: {action.dest}")
    check(parser, "planner")
    assert not missing, missing


def test_an_explicit_id_takes_no_number_from_the_generated_ones(cli):
    assert [cli("add", *args).stdout.strip() for args in (["a"], ["docs", "--id", "docs"], ["c"], ["d", "--id", "T10"],
                                                           ["e"])] == ["T1", "docs", "T2", "T10", "T11"]


def test_a_containers_effort_and_capabilities_are_its_leaves_everywhere(cli):
    cli("add", "Backend", "--id", "be", "--effort", "4", "--cap", "go")
    cli("add", "Models", "--parent", "be", "--effort", "3", "--cap", "python")
    cli("add", "Routes", "--parent", "be", "--effort", "2", "--cap", "sql")
    shown = as_json(cli("show", "be", "--json"))
    assert (shown["effort"], shown["capabilities"]) == (5.0, ["python", "sql"])
    analysis = as_json(cli("analyze", "--json"))
    assert (analysis["total_effort"], analysis["capabilities"]) == (5.0, {"python": 1, "sql": 1})
    exported = {t["id"]: t for t in json.loads(cli("export").stdout)["tasks"]}
    assert (exported["be"]["estimated_effort"], exported["be"]["capabilities_required"]) == (0, [])
    refused = cli("edit", "be", "--effort", "9", check=False)
    assert refused.returncode == 2 and "be is a container: its effort and capabilities are its subtasks'" in \
        refused.stderr
    assert cli("edit", "be", "--priority", "high").returncode == 0  # its other fields are its own
