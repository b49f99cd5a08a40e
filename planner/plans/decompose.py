"""Run a pluggable decomposer: a program that splits one task into subtasks.

``planner plan TASK --exec 'COMMAND TEMPLATE'`` calls :func:`run_decomposer`,
which runs the program, checks what it printed and returns *task specs* for
the caller to validate against the project and append. Any program in any
language can be a decomposer (a script, a wrapper around a language model, a
rule engine); :mod:`planner.plans.example_decomposer` is a small deterministic one.

The protocol
------------
**Command.** The template is split into words like a POSIX shell would
(:func:`shlex.split`), but no shell runs it, so a title cannot inject anything.
Inside any word, ``{task}`` becomes the task's id and ``{title}`` its title;
``{{task}}`` and ``{{title}}`` stand for the literal text ``{task}`` and
``{title}``. Other braces are left alone. Example::

    planner plan api --exec 'python3 split.py --task {task} --title "{title}"'

**Input.** The program gets one JSON object on stdin (UTF-8), built by the caller::

    {
      "task":      {"id": "api", "title": "Build the API", "description": "...", "effort": 8.0,
                    "priority": "high", "capabilities": ["python"], "metadata": {}},
      "ancestors": [{"id": "web", "title": "Web app"}],            # root first; [] for a top-level task
      "siblings":  [{"id": "ui", "title": "Frontend"}],            # the task's siblings, itself excluded
      "project":   {"name": "shop"},
      "depth":     2                                              # the task's depth (top level: 1)
    }

**Output.** On stdout, one JSON value: a list of subtasks, or an object
``{"subtasks": [...]}``. An empty list means "this task cannot be decomposed
further". Each subtask is an object with these keys (``null`` counts as
absent; any other key is an error, so put extras in ``metadata``):

=================================================  ===========================================================
``title`` or ``name``                              required, a non-empty string (at most 500 characters)
``id``                                             optional local id, unique in the output; the task's id
                                                   becomes ``PARENT.ID`` (``PARENT`` being the decomposed task)
``description``                                    a string
``effort`` or ``estimated_effort``                 a number >= 0 (hours)
``priority``                                       ``low``, ``medium``, ``high`` or ``critical`` (any case)
``capabilities`` or ``capabilities_required``      a list of non-empty strings
``depends_on`` or ``dependencies``                 a list of ids: local ids of other subtasks of this output
                                                   (``PARENT.ID`` is accepted too), or ids of existing tasks
``metadata``                                       an object
=================================================  ===========================================================

A subtask without ``id`` gets ``PARENT.N``, N its 1-based position in the
output; it cannot be depended on by the other subtasks (give it an id for
that). A dependency that names no subtask of the output is kept as it is: it
may be an existing task (the caller checks). A subtask that depends on
itself, or a cycle among the subtasks, is refused with the cycle's path.

**Exit status and stderr.** Exit 0 on success; anything else is a failure.
Whatever the program writes on stderr is relayed, line by line as it comes,
to the caller's stderr (progress messages show up live), and its last lines
are quoted in the error when the program fails or times out.

The result
----------
One spec per subtask: ``id``, ``title`` and ``parent`` (the decomposed task)
always, then only the keys the program gave: ``description``, ``priority``,
``effort`` (float), ``capabilities``, ``depends_on`` (local ids rewritten to
project ids, duplicates dropped) and ``metadata``. They come in a topological
order (every subtask after the subtasks it depends on), otherwise in the
program's order.

Errors: :class:`DecomposerError`, with every problem of the output listed with
its JSON path (``subtasks[3].effort: must be a number >= 0``).

Cost: checking the output is O(n log n + d) for n subtasks and d dependencies.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO, Any, get_args

from pydantic import TypeAdapter, ValidationError

from planner.domain import events as ev
from planner.domain.errors import DomainError

PRIORITIES: tuple[str, ...] = get_args(ev.Priority)
#: stderr lines quoted in an error
STDERR_TAIL_LINES = 10

_ID = TypeAdapter(ev.TaskId)
_NAME = TypeAdapter(ev.Name)
_CAPABILITY = TypeAdapter(ev.Capability)
_PLACEHOLDER = re.compile(r"\{\{(task|title)\}\}|\{(task|title)\}")
_POSIX = os.name == "posix"
_ALIASES: tuple[tuple[str, ...], ...] = (
    ("title", "name"),
    ("effort", "estimated_effort"),
    ("capabilities", "capabilities_required"),
    ("depends_on", "dependencies"),
)
_SPEC_KEYS = ("id", "title", "description", "parent", "priority", "effort", "capabilities", "depends_on", "metadata")
_KNOWN_KEYS = ("id", "title", "name", "description", "effort", "estimated_effort", "priority", "capabilities",
               "capabilities_required", "depends_on", "dependencies", "metadata")


class DecomposerError(DomainError):
    """The decomposer could not run, failed, or printed something unusable.

    ``problems`` lists each problem of the output (``"PATH: message"``) when the
    output was JSON of the wrong shape; it is empty for the other failures.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        super().__init__(message)


def run_decomposer(command: str, context: dict[str, Any], timeout: float = 300.0, *,
                   stderr: IO[str] | None = None) -> list[dict[str, Any]]:
    """Run the decomposer ``command`` on ``context``; the task specs of the subtasks it printed.

    ``context`` is the protocol's input object (see the module docstring); its
    ``task.id`` becomes the subtasks' parent. The program is killed (with its
    process group, on POSIX) after ``timeout`` seconds. Its stderr is relayed
    to ``stderr`` (default: :data:`sys.stderr` at call time).
    Raises :class:`DecomposerError`. Cost: the program's run, plus O(n log n + d)
    to check n subtasks with d dependencies.
    """
    task = context.get("task") if isinstance(context, dict) else None
    if not isinstance(task, dict) or not isinstance(task.get("id"), str) or not isinstance(task.get("title"), str):
        raise ValueError("context['task'] must be an object with the 'id' and 'title' (strings) of the task "
                         "to decompose")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")
    argv = command_argv(command, task["id"], task["title"])
    try:
        payload = json.dumps(context, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"the decomposer's context is not JSON-serialisable: {e}")
    shown = _shown(argv)
    out = _run(argv, shown, payload, timeout, sys.stderr if stderr is None else stderr)
    data = _decode(out, shown)
    try:
        return parse_subtasks(data, task["id"])
    except DecomposerError as e:
        raise DecomposerError(f"decomposer {shown}: {e}", e.problems) from None


def command_argv(command: str, task_id: str, title: str) -> list[str]:
    """The words of ``command`` with ``{task}`` and ``{title}`` filled in; O(len(command) + output)."""
    try:
        words = shlex.split(command)
    except ValueError as e:
        raise DecomposerError(f"cannot split the decomposer command {command!r} into words: {e}")
    if not words:
        raise DecomposerError("the decomposer command is empty: give the program to run, e.g. "
                              "--exec 'python3 -m planner.plans.example_decomposer'")
    values = {"task": task_id, "title": title}

    def fill(match: re.Match[str]) -> str:
        return "{" + match.group(1) + "}" if match.group(1) else values[match.group(2)]

    return [_PLACEHOLDER.sub(fill, word) for word in words]


def parse_subtasks(data: Any, parent: str) -> list[dict[str, Any]]:
    """Task specs, children of ``parent``, from a decomposer's decoded JSON output ``data``.

    Checks the shape and the references among the subtasks and raises one
    :class:`DecomposerError` listing every problem. Returns the specs in
    topological order, stable otherwise. O(n log n + d).
    """
    extra: list[str] = []
    if isinstance(data, list):
        root, items = "", data
    elif isinstance(data, dict) and isinstance(data.get("subtasks"), list):
        root, items = "subtasks", data["subtasks"]
        extra = [f'{key}: unknown top-level key (the object form is {{"subtasks": [...]}} and nothing else)'
                 for key in data if key != "subtasks"]
    elif isinstance(data, dict):
        found = "missing" if "subtasks" not in data else f"a {_json_type(data['subtasks'])}"
        raise DecomposerError(f'invalid output: "subtasks" must be a list of subtasks, and is {found}',
                              [f"subtasks: must be a list, and is {found}"])
    else:
        raise DecomposerError(f'invalid output: a list of subtasks or {{"subtasks": [...]}} is expected, not a '
                              f"{_json_type(data)}", [f"$: must be a list or an object, not a {_json_type(data)}"])
    checker = _Checker(parent, root)
    for problem in extra:
        checker.problem("", problem)
    subs = []
    for i, item in enumerate(items):
        checker.at = i
        subs.append(checker.subtask(i, item))
    checker.ids(subs)
    checker.references(subs)
    if checker.problems:
        problems = [text for _, _, text in sorted(checker.problems)]  # by subtask, then as found
        n = len(problems)
        raise DecomposerError(f"invalid output ({n} problem{'s' if n > 1 else ''}):\n  " + "\n  ".join(problems),
                              problems)
    return [{key: subs[i].spec[key] for key in _SPEC_KEYS if key in subs[i].spec} for i in _topological(subs)]


class _Sub:
    """One subtask while it is checked: its spec so far, local id and local dependencies."""

    __slots__ = ("path", "local", "spec", "deps", "edges")

    def __init__(self, path: str):
        self.path = path
        self.local: str | None = None
        self.spec: dict[str, Any] = {}
        self.deps: list[tuple[str, str]] = []  # (JSON path, dependency as written)
        self.edges: list[int] = []  # indexes of the subtasks it depends on


class _Checker:
    """Collects the problems of one output, each with its JSON path."""

    def __init__(self, parent: str, root: str):
        self.parent, self.root = parent, root
        self.problems: list[tuple[int, int, str]] = []  # (subtask index, sequence, "path: message")
        self.locals: dict[str, int] = {}
        self.at = -1  # the subtask being checked; -1 for the top level

    def problem(self, path: str, message: str) -> None:
        self.problems.append((self.at, len(self.problems), f"{path}: {message}" if path else message))

    def pick(self, item: dict[str, Any], path: str, names: tuple[str, ...]) -> tuple[str, Any] | None:
        """The (key, value) given for a field that has aliases, or None; both aliases given is a problem."""
        given = [n for n in names if item.get(n) is not None]
        if len(given) > 1:
            self.problem(path, f"give {' or '.join(repr(n) for n in given)}, not both")
        return (given[0], item[given[0]]) if given else None

    def subtask(self, index: int, item: Any) -> _Sub:
        """Check one subtask's fields; O(its size)."""
        path = f"{self.root}[{index}]"
        sub = _Sub(path)
        if not isinstance(item, dict):
            self.problem(path, f"must be an object with at least a title, not a {_json_type(item)}")
            return sub
        for key in item:
            if key not in _KNOWN_KEYS:
                self.problem(path, f"unknown key {key!r} (known: {', '.join(_KNOWN_KEYS)}; put extras in metadata)")
        local = item.get("id")
        if local is not None:
            if isinstance(local, str) and local:
                sub.local = local
            else:
                self.problem(f"{path}.id", f"must be a non-empty string, not {_show(local)}")
        title, effort, caps, deps = (self.pick(item, path, names) for names in _ALIASES)
        spec = sub.spec
        spec["id"], spec["title"] = None, ""
        if title is None:
            self.problem(path, "needs a title (or name)")
        elif not isinstance(title[1], str) or not _valid(_NAME, title[1].strip()):
            self.problem(f"{path}.{title[0]}", "must be a non-empty string of at most 500 characters")
        else:
            spec["title"] = title[1].strip()
        description = item.get("description")
        if description is not None:
            if isinstance(description, str):
                if description:
                    spec["description"] = description
            else:
                self.problem(f"{path}.description", f"must be a string, not {_show(description)}")
        spec["parent"] = self.parent
        priority = item.get("priority")
        if priority is not None:
            if isinstance(priority, str) and priority.lower() in PRIORITIES:
                spec["priority"] = priority.lower()
            else:
                self.problem(f"{path}.priority", f"must be one of {', '.join(PRIORITIES)}, not {_show(priority)}")
        if effort is not None:
            value = effort[1]
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
                spec["effort"] = float(value)
            else:
                self.problem(f"{path}.{effort[0]}", f"must be a number >= 0, not {_show(value)}")
        if caps is not None:
            spec["capabilities"] = [cap for _, cap in self.strings(f"{path}.{caps[0]}", caps[1], _CAPABILITY,
                                                                    "a non-empty string of at most 100 characters")]
        if deps is not None:
            for j, dep in self.strings(f"{path}.{deps[0]}", deps[1], None, "an id (a string)"):
                sub.deps.append((f"{path}.{deps[0]}[{j}]", dep))
        metadata = item.get("metadata")
        if metadata is not None:
            if isinstance(metadata, dict):
                spec["metadata"] = metadata
            else:
                self.problem(f"{path}.metadata", f"must be an object, not {_show(metadata)}")
        return sub

    def strings(self, path: str, value: Any, adapter: TypeAdapter[Any] | None, what: str) -> list[tuple[int, str]]:
        """The valid strings of a JSON list with their positions, duplicates dropped; a problem per bad entry."""
        if not isinstance(value, list):
            self.problem(path, f"must be a list, not {_show(value)}")
            return []
        kept: dict[str, int] = {}
        for j, entry in enumerate(value):
            if not isinstance(entry, str) or not entry or (adapter is not None and not _valid(adapter, entry)):
                self.problem(f"{path}[{j}]", f"must be {what}, not {_show(entry)}")
            elif entry not in kept:
                kept[entry] = j
        return [(j, entry) for entry, j in kept.items()]

    def ids(self, subs: list[_Sub]) -> None:
        """Project ids: ``PARENT.LOCAL`` or ``PARENT.N``; unique and valid. O(n)."""
        first: dict[str, int] = {}
        for i, sub in enumerate(subs):
            self.at = i
            if sub.local is None:
                continue
            if sub.local in first:
                self.problem(f"{sub.path}.id", f"{sub.local!r} is also the id of {subs[first[sub.local]].path}")
                continue
            first[sub.local] = i
            full = f"{self.parent}.{sub.local}"
            if _valid(_ID, full):
                sub.spec["id"] = full
            else:
                self.problem(f"{sub.path}.id", f"{sub.local!r} is not a usable id: {full!r} must be letters, "
                                               "digits and . _ : -, at most 128 characters")
        self.locals = first
        for i, sub in enumerate(subs):
            self.at = i
            if sub.local is not None:
                continue
            generated = f"{self.parent}.{i + 1}"
            clash = first.get(str(i + 1))
            if clash is not None:
                self.problem(sub.path, f"its generated id {generated!r} is the id of {subs[clash].path}: "
                                       "give every subtask an id, or none")
            elif not _valid(_ID, generated):
                self.problem(sub.path, f"its generated id {generated!r} is not a valid id (too long?)")
            else:
                sub.spec["id"] = generated

    def references(self, subs: list[_Sub]) -> None:
        """Resolve dependencies to project ids; refuse self-dependencies and cycles. O(n + d)."""
        prefix = f"{self.parent}."
        for i, sub in enumerate(subs):
            self.at = i
            resolved: list[str] = []
            for path, dep in sub.deps:
                local = dep[len(prefix):] if dep.startswith(prefix) and dep[len(prefix):] in self.locals else dep
                j = self.locals.get(local)
                if j == i:
                    self.problem(path, f"{dep!r} is the subtask itself: a task cannot depend on itself")
                    continue
                if j is not None:
                    target = f"{self.parent}.{local}"
                    if j not in sub.edges:
                        sub.edges.append(j)
                elif _valid(_ID, dep):
                    target = dep  # no subtask of this output: maybe an existing task; the caller checks
                else:
                    self.problem(path, f"{dep!r} names no subtask of this output and is not a valid task id")
                    continue
                if target not in resolved:
                    resolved.append(target)
            if resolved:
                sub.spec["depends_on"] = resolved
        self.at = len(subs)
        for cycle in _cycles(subs):
            names = " -> ".join(subs[k].local or subs[k].path for k in cycle)
            where = ", ".join(subs[k].path for k in cycle[:-1])
            self.problem(self.root or "$", f"dependency cycle {names} (a -> b: a depends on b; in {where})")


def _cycles(subs: list[_Sub]) -> list[list[int]]:
    """One cycle (first node repeated at the end) per back edge met by a DFS in index order; O(n + d)."""
    state = [0] * len(subs)  # 0 unseen, 1 on the DFS path, 2 done
    cycles: list[list[int]] = []
    for start in range(len(subs)):
        if state[start]:
            continue
        path, todo = [start], [iter(subs[start].edges)]
        state[start] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state[nxt] == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif state[nxt] == 0:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(subs[nxt].edges))
    return cycles


def _topological(subs: list[_Sub]) -> list[int]:
    """Indexes in dependency order, the lowest index first among the ready ones (Kahn); O(n log n + d)."""
    waiting = [len(sub.edges) for sub in subs]
    dependents: list[list[int]] = [[] for _ in subs]
    for i, sub in enumerate(subs):
        for j in sub.edges:
            dependents[j].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for k in dependents[i]:
            waiting[k] -= 1
            if waiting[k] == 0:
                heapq.heappush(ready, k)
    return order


# -- running the program ------------------------------------------------------------------------
def _run(argv: list[str], shown: str, payload: bytes, timeout: float, sink: IO[str] | None) -> bytes:
    """Run ``argv`` with ``payload`` on stdin; its stdout. stderr is relayed to ``sink`` as it comes."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=_POSIX)
    except FileNotFoundError:
        raise DecomposerError(f"decomposer program {argv[0]!r} not found: check the first word of the command "
                              "(is it on PATH? give a full path otherwise)")
    except PermissionError:
        raise DecomposerError(f"decomposer program {argv[0]!r} cannot be run: permission denied (is it executable?)")
    except OSError as e:
        raise DecomposerError(f"cannot start decomposer program {argv[0]!r}: {e.strerror or e}")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    chunks: list[bytes] = []
    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    threads = [
        threading.Thread(target=_feed, args=(proc.stdin, payload), daemon=True),
        threading.Thread(target=_collect, args=(proc.stdout, chunks), daemon=True),
        threading.Thread(target=_relay, args=(proc.stderr, tail, sink), daemon=True),
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        proc.wait(timeout)
        for thread in threads:  # a child of the program may still hold the pipes open
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            raise subprocess.TimeoutExpired(argv, timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        for thread in threads:
            thread.join(1.0)
        raise DecomposerError(f"decomposer {shown} timed out after {timeout:g} s and was killed"
                              f"{_tail(tail)}\n(give it more time with a larger timeout, or make it faster)")
    except BaseException:  # KeyboardInterrupt included: never leave the program running
        _kill(proc)
        raise
    if proc.returncode:
        code = proc.returncode
        how = f"was killed by signal {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
        raise DecomposerError(f"decomposer {shown} {how}{_tail(tail)}")
    return chunks[0] if chunks else b""


def _feed(stream: IO[bytes], payload: bytes) -> None:
    try:
        stream.write(payload)
    except OSError:  # it exited without reading its input: its exit status tells
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass


def _collect(stream: IO[bytes], chunks: list[bytes]) -> None:
    with stream:  # closed by the thread that reads it, never under its feet
        chunks.append(stream.read())


def _relay(stream: IO[bytes], tail: deque[str], sink: IO[str] | None) -> None:
    with stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            tail.append(line.rstrip("\r\n")[:500])
            if sink is not None:
                try:
                    sink.write(line)
                    sink.flush()
                except (OSError, ValueError):  # a closed sink must not stop the relay (the pipe would fill)
                    sink = None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the program and, on POSIX, its whole process group; then reap it."""
    try:
        if _POSIX:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _decode(out: bytes, shown: str) -> Any:
    try:
        text = out.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DecomposerError(f"decomposer {shown} printed invalid UTF-8 on stdout at byte {e.start}")
    if not text.strip():
        raise DecomposerError(f"decomposer {shown} printed nothing on stdout: it must print a JSON list of "
                              'subtasks, or {"subtasks": [...]} ([] when the task cannot be split further)')
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        line = text.splitlines()[e.lineno - 1] if e.lineno - 1 < len(text.splitlines()) else ""
        start = max(0, e.colno - 40)
        raise DecomposerError(f"decomposer {shown} printed something that is not JSON on stdout: {e.msg} at "
                              f"line {e.lineno}, column {e.colno}, near {line[start:start + 80]!r}")


def _tail(tail: deque[str]) -> str:
    lines = list(tail)  # a copy: the relay thread may still be appending
    if not lines:
        return " (its stderr was empty)"
    return "; the last lines of its stderr:\n" + "\n".join(f"  | {line}" for line in lines)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _shown(argv: list[str]) -> str:
    text = shlex.join(argv)
    return f"`{text if len(text) <= 120 else text[:117] + '...'}`"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def _show(value: Any) -> str:
    """A JSON value in a message: short ones as JSON, long ones by type."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else f"a {_json_type(value)}"


def _valid(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True
