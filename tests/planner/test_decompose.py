"""The decomposer runner, against real processes: protocol, output shapes, failures, ids, order."""

import io
import json
import os
import select
import shlex
import sys

import pytest

from planner.plans.decompose import DecomposerError, command_argv, parse_subtasks, run_decomposer
from planner.plans.example_decomposer import decompose

PY = shlex.quote(sys.executable)
EXAMPLE = f"{PY} -m planner.plans.example_decomposer"
CONTEXT = {
    "task": {"id": "api", "title": "Build the API", "description": "REST", "effort": 10.0, "priority": "high",
             "capabilities": ["python"], "metadata": {}},
    "ancestors": [{"id": "web", "title": "Web app"}],
    "siblings": [{"id": "ui", "title": "Frontend"}],
    "project": {"name": "shop"},
    "depth": 2,
}


def script(code: str) -> str:
    """A command running ``code`` with this interpreter."""
    return f"{PY} -c {shlex.quote(code)}"


def emit(output) -> str:
    """A command whose program prints ``output`` as JSON (a str is printed as is)."""
    text = output if isinstance(output, str) else json.dumps(output)
    return script(f"import sys; sys.stdout.write({text!r})")


def run(command: str, context: dict | None = None, **kwargs) -> list[dict]:
    kwargs.setdefault("stderr", io.StringIO())
    return run_decomposer(command, CONTEXT if context is None else context, **kwargs)


def failure(command: str, **kwargs) -> DecomposerError:
    with pytest.raises(DecomposerError) as info:
        run(command, **kwargs)
    return info.value


def with_task(**task) -> dict:
    return {**CONTEXT, "task": {**CONTEXT["task"], **task}}


# -- the example decomposer ---------------------------------------------------------------------
def test_the_example_decomposer_splits_design_implement_test():
    specs = run(EXAMPLE)
    common = {"parent": "api", "priority": "high", "capabilities": ["python"]}
    assert specs == [
        {"id": "api.design", "title": "Design Build the API", "description": "Design step of: Build the API",
         **common, "effort": 2.0},
        {"id": "api.implement", "title": "Implement Build the API",
         "description": "Implement step of: Build the API", **common, "effort": 5.0, "depends_on": ["api.design"]},
        {"id": "api.test", "title": "Test Build the API", "description": "Test step of: Build the API",
         **common, "effort": 3.0, "depends_on": ["api.implement"]},
    ]
    assert run(EXAMPLE) == specs  # deterministic


def test_the_example_decomposer_defaults_the_effort_and_stops_at_a_step():
    bare = {"task": {"id": "x", "title": "Thing"}}
    assert [s["effort"] for s in run(EXAMPLE, bare)] == [0.2, 0.5, 0.3]
    assert all("capabilities" not in s and "priority" not in s for s in run(EXAMPLE, bare))
    for title in ("Design the schema", "implement it", "TEST everything"):
        assert run(EXAMPLE, with_task(title=title)) == []
    assert decompose({"task": {"title": "Designer hiring"}}) != []  # a word, not a prefix


def test_the_example_decomposer_refuses_a_bad_context_with_exit_code_2():
    error = failure(EXAMPLE, context={"task": {"id": "x", "title": "T", "effort": "lots"}})
    assert "exited with code 2" in str(error)
    assert "task.effort must be a number >= 0" in str(error)


# -- the protocol -------------------------------------------------------------------------------
def test_the_program_gets_the_context_on_stdin_and_the_placeholders_in_its_words():
    echo = ("import json, sys; ctx = json.loads(sys.stdin.buffer.read().decode('utf-8')); "
            "json.dump([{'title': ' | '.join(sys.argv[1:]), 'metadata': ctx}], sys.stdout)")
    hostile = "Build; rm -rf / $(whoami) 'q' \"dq\" {task} é"
    context = with_task(title=hostile)
    [spec] = run(f"{script(echo)} {{task}} 'title={{title}}' {{{{task}}}} {{other}}", context)
    assert spec["title"] == f"api | title={hostile} | {{task}} | {{other}}"
    assert spec["metadata"] == context  # the context arrived whole, UTF-8 included


def test_stderr_is_relayed_to_the_callers_stream():
    sink = io.StringIO()
    code = "import sys; print('thinking...', file=sys.stderr); print('[]')"
    assert run(script(code), stderr=sink) == []
    assert sink.getvalue() == "thinking...\n"


def test_both_output_shapes_give_the_same_specs():
    subtasks = [{"id": "a", "title": "A"}, {"id": "b", "title": "B", "depends_on": ["a"]}]
    assert run(emit(subtasks)) == run(emit({"subtasks": subtasks})) == [
        {"id": "api.a", "title": "A", "parent": "api"},
        {"id": "api.b", "title": "B", "parent": "api", "depends_on": ["api.a"]},
    ]
    assert run(emit([])) == run(emit({"subtasks": []})) == []


def test_aliases_name_estimated_effort_capabilities_required_dependencies():
    output = [
        {"id": "s", "name": "Schema", "estimated_effort": 2, "capabilities_required": ["sql", "sql"]},
        {"name": "  Queries  ", "dependencies": ["s", "s"], "priority": "HIGH", "description": "d",
         "metadata": {"k": [1]}, "effort": None},
    ]
    assert run(emit(output)) == [
        {"id": "api.s", "title": "Schema", "parent": "api", "effort": 2.0, "capabilities": ["sql"]},
        {"id": "api.2", "title": "Queries", "description": "d", "parent": "api", "priority": "high",
         "depends_on": ["api.s"], "metadata": {"k": [1]}},
    ]


# -- failures of the program --------------------------------------------------------------------
def test_output_that_is_not_json_says_where():
    error = failure(emit('[\n  {"title": "A"},\n  {title: "B"}\n]'))
    assert "not JSON on stdout" in str(error)
    assert "line 3, column 4" in str(error)
    assert "{title: " in str(error)


def test_empty_output_and_invalid_utf8():
    assert "printed nothing on stdout" in str(failure(script("print('  ')")))
    error = failure(script("import sys; sys.stdout.buffer.write(b'[\\xff]')"))
    assert "invalid UTF-8 on stdout at byte 1" in str(error)


def test_a_non_zero_exit_gives_the_code_and_the_tail_of_stderr():
    code = "import sys\nfor i in range(15): print(f'line {i}', file=sys.stderr)\nprint('[]')\nsys.exit(3)"
    sink = io.StringIO()
    error = failure(script(code), stderr=sink)
    message = str(error)
    assert "exited with code 3" in message
    assert message.startswith("decomposer `")
    assert all(f"| line {i}\n" in message + "\n" for i in range(5, 15))
    assert "| line 4\n" not in message
    assert sink.getvalue() == "".join(f"line {i}\n" for i in range(15))  # relayed whole as well
    assert "its stderr was empty" in str(failure(script("raise SystemExit(1)")))


@pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")
def test_a_program_killed_by_a_signal_says_which():
    error = failure(script("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))
    assert "was killed by signal SIGTERM" in str(error)


def test_a_missing_program():
    error = failure("definitely-not-a-decomposer-4f9e --task {task}")
    assert "'definitely-not-a-decomposer-4f9e' not found" in str(error)
    assert "PATH" in str(error)


def test_a_command_that_cannot_be_split_or_is_empty():
    assert "cannot split" in str(failure("python -c 'unclosed"))
    assert "command is empty" in str(failure("   "))


def test_a_bad_context_is_the_callers_error():
    with pytest.raises(ValueError, match=r"context\['task'\]"):
        run_decomposer(EXAMPLE, {"task": {"title": "no id"}})
    with pytest.raises(ValueError, match="timeout must be > 0"):
        run_decomposer(EXAMPLE, CONTEXT, timeout=0)


def test_a_program_that_runs_too_long_is_killed():
    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            "print(f'pids {os.getpid()} {child.pid}', file=sys.stderr, flush=True)\n"
            "time.sleep(120)\n")
    sink = io.StringIO()
    error = failure(script(code), timeout=4, stderr=sink)  # room for a loaded machine to start both
    assert "timed out after 4 s and was killed" in str(error)
    assert "| pids " in str(error)
    program, child = (int(p) for p in sink.getvalue().split()[1:3])
    with pytest.raises(ProcessLookupError):
        os.kill(program, 0)  # killed and reaped
    if hasattr(os, "pidfd_open"):  # Linux: its child went with it (the whole process group was killed)
        try:
            fd = os.pidfd_open(child)
        except ProcessLookupError:
            return
        try:
            ready, _, _ = select.select([fd], [], [], 10)  # readable once the process has exited
            assert ready, "the decomposer's child survived the timeout"
        finally:
            os.close(fd)


@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")
def test_a_child_left_holding_stdout_counts_as_a_timeout():
    code = ("import subprocess, sys\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            "print('[]', flush=True)\n")
    assert "timed out after 2 s" in str(failure(script(code), timeout=2))


# -- the shape of the output --------------------------------------------------------------------
def test_every_shape_problem_is_reported_with_its_json_path():
    output = {"subtasks": [
        {"title": "ok", "effort": -1},
        "nope",
        {"name": ""},
        {"title": "x", "priority": "urgent", "capabilities": ["a", 3, ""], "depends_on": "b", "metadata": [],
         "colour": "red"},
        {"title": "a", "name": "b", "effort": 1, "estimated_effort": 2},
        {"id": 5, "title": "x", "description": 7},
        {"title": "y", "effort": True, "dependencies": ["ok", 4, "no/slash"]},
        {"description": "no title"},
    ]}
    error = failure(emit(output))
    expected = [
        "subtasks[0].effort: must be a number >= 0, not -1",
        "subtasks[1]: must be an object with at least a title, not a string",
        "subtasks[2].name: must be a non-empty string of at most 500 characters",
        "subtasks[3]: unknown key 'colour'",
        "subtasks[3].priority: must be one of low, medium, high, critical, not \"urgent\"",
        "subtasks[3].capabilities[1]: must be a non-empty string of at most 100 characters, not 3",
        "subtasks[3].capabilities[2]: must be a non-empty string",
        "subtasks[3].depends_on: must be a list, not \"b\"",
        "subtasks[3].metadata: must be an object, not []",
        "subtasks[4]: give 'title' or 'name', not both",
        "subtasks[4]: give 'effort' or 'estimated_effort', not both",
        "subtasks[5].id: must be a non-empty string, not 5",
        "subtasks[5].description: must be a string, not 7",
        "subtasks[6].effort: must be a number >= 0, not true",
        "subtasks[6].dependencies[1]: must be an id (a string), not 4",
        "subtasks[6].dependencies[2]: 'no/slash' names no subtask of this output and is not a valid task id",
        "subtasks[7]: needs a title (or name)",
    ]
    assert len(error.problems) == len(expected), error.problems
    for problem, start in zip(error.problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)
    assert f"invalid output ({len(expected)} problems)" in str(error)
    assert all(p in str(error) for p in error.problems)


def test_paths_of_a_bare_list_and_of_the_top_level():
    assert failure(emit([{"title": "a", "effort": "1h"}])).problems == [
        '[0].effort: must be a number >= 0, not "1h"']
    assert "not a number" in str(failure(emit("42")))
    assert '"subtasks" must be a list of subtasks, and is missing' in str(failure(emit({"tasks": []})))
    assert failure(emit({"subtasks": [], "notes": "x"})).problems[0].startswith("notes: unknown top-level key")


# -- ids and references -------------------------------------------------------------------------
def test_local_ids_are_prefixed_and_generated_ids_are_positions():
    output = [
        {"id": "schema", "title": "Schema"},
        {"title": "Unnamed"},
        {"id": "q", "title": "Queries", "depends_on": ["schema", "api.schema", "existing-task", "web:x.1"]},
    ]
    specs = run(emit(output))
    assert [s["id"] for s in specs] == ["api.schema", "api.2", "api.q"]
    assert specs[2]["depends_on"] == ["api.schema", "existing-task", "web:x.1"]  # unknown ids kept as they are


def test_bad_local_ids():
    problems = failure(emit([
        {"id": "a", "title": "A"}, {"id": "a", "title": "again"}, {"id": "b c", "title": "space"},
        {"id": "x" * 130, "title": "long"}, {"id": "6", "title": "six"}, {"title": "sixth"},
    ])).problems
    assert problems == [
        "[1].id: 'a' is also the id of [0]",
        "[2].id: 'b c' is not a usable id: 'api.b c' must be letters, digits and . _ : -, at most 128 characters",
        f"[3].id: '{'x' * 130}' is not a usable id: 'api.{'x' * 130}' must be letters, digits and . _ : -, "
        "at most 128 characters",
        "[5]: its generated id 'api.6' is the id of [4]: give every subtask an id, or none",
    ]


def test_a_self_dependency_is_refused():
    problems = failure(emit([{"id": "a", "title": "A", "depends_on": ["b", "api.a"]}, {"id": "b", "title": "B"}])
                       ).problems
    assert problems == ["[0].depends_on[1]: 'api.a' is the subtask itself: a task cannot depend on itself"]


def test_a_cycle_among_the_subtasks_is_refused_with_its_path():
    output = {"subtasks": [
        {"id": "free", "title": "F"},
        {"id": "a", "title": "A", "depends_on": ["b"]},
        {"id": "b", "title": "B", "depends_on": ["free", "c"]},
        {"id": "c", "title": "C", "dependencies": ["a"]},
    ]}
    error = failure(emit(output))
    assert error.problems == ["subtasks: dependency cycle a -> b -> c -> a (a -> b: a depends on b; "
                              "in subtasks[1], subtasks[2], subtasks[3])"]


def test_the_result_is_in_topological_order_and_stable_otherwise():
    output = [
        {"id": "c", "title": "C", "depends_on": ["b"]},
        {"id": "x", "title": "X"},
        {"id": "b", "title": "B", "depends_on": ["a", "outside"]},
        {"id": "a", "title": "A"},
        {"id": "d", "title": "D", "depends_on": ["a"]},
        {"title": "Y"},
    ]
    specs = run(emit(output))
    assert [s["id"] for s in specs] == ["api.x", "api.a", "api.b", "api.c", "api.d", "api.6"]
    position = {s["id"]: n for n, s in enumerate(specs)}
    for spec in specs:
        for dep in spec.get("depends_on", []):
            assert dep == "outside" or position[dep] < position[spec["id"]]


# -- the pure helpers ---------------------------------------------------------------------------
def test_command_argv_fills_placeholders_without_a_shell():
    assert command_argv("run --id={task} '{title}' {{title}} {x}", "t.1", "a b; c") == [
        "run", "--id=t.1", "a b; c", "{title}", "{x}"]


def test_parse_subtasks_is_usable_on_decoded_json():
    assert parse_subtasks([{"title": "A"}], "p") == [{"id": "p.1", "title": "A", "parent": "p"}]
