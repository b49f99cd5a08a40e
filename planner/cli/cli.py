"""The command line: ``python -m planner`` (also installed as ``planner``).

Every command takes ``--home`` (default ``$PLANNER_HOME`` or ``./.planner``),
``--project`` (default ``$PLANNER_PROJECT`` or ``default``) and ``--json``.
A refused command or bad input prints one line (with ``--json``, a JSON
object ``{"error": {"type", "message"}}``) and exits with status 2; nothing is
written. Heavy modules (rich) load only when a command needs them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STATES = ["pending", "assigned", "in_progress", "blocked", "completed", "failed", "cancelled"]


def _common(defaults: bool) -> argparse.ArgumentParser:
    """The global options, accepted before or after the command. After it, they default to
    SUPPRESS, so that a subcommand does not reset what was given before it."""
    common = argparse.ArgumentParser(add_help=False)
    unset = argparse.SUPPRESS
    common.add_argument("--home", default=os.environ.get("PLANNER_HOME", ".planner") if defaults else unset,
                        help="the planner's home directory (default: $PLANNER_HOME or ./.planner)")
    common.add_argument("--project", default=os.environ.get("PLANNER_PROJECT", "default") if defaults else unset,
                        help="the project (default: $PLANNER_PROJECT or 'default')")
    common.add_argument("--json", action="store_true", default=False if defaults else unset,
                        help="print JSON (errors too)")
    common.add_argument("--no-server", action="store_true", default=False if defaults else unset,
                        help="work on the files directly even when `planner serve` serves the home "
                             "(also: PLANNER_NO_SERVER=1)")
    common.add_argument("--store", metavar="URL", default=os.environ.get("PLANNER_STORE") or None if defaults else unset,
                        help="keep projects in this store instead of HOME/projects, e.g. "
                             "postgresql://user@host/db?schema=plans (also: PLANNER_STORE)")
    return common


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line: with ``--json`` a JSON error on stdout, else the problem
    and a hint on stderr; exit status 2 either way (a usage block hides the one line that matters)."""

    json_errors = False  # set by main() when --json is among the arguments

    def error(self, message: str) -> Any:
        command = self.prog.removeprefix("planner").strip()
        if self.json_errors:
            print(json.dumps({"error": {"type": "UsageError", "message": f"{self.prog}: {message}"}}))
        else:
            print(f"{self.prog}: {message} (see `planner {command + ' ' if command else ''}--help`)",
                  file=sys.stderr)
        sys.exit(2)


class _Version(argparse.Action):
    """``--version``: the installed distribution's version (read only when asked: importlib.metadata
    costs a few ms that no other command should pay)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("superplanner")
        except PackageNotFoundError:
            found = "(not installed: run from a checkout)"
        print(f"planner {found}")
        parser.exit()


class _Skipped:
    """Stands in for the parser of a command that is not being run: takes its definitions, keeps none."""

    def __getattr__(self, name: str) -> Any:
        return self._take

    def _take(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self


class _OnlyOne:
    """The subcommands, limited to the one being run: the others are not built (building all of
    them is ~7 ms, a tenth of a query answered by a server). Help and typos get the full parser."""

    def __init__(self, sub: Any, wanted: str):
        self._sub, self._wanted = sub, wanted

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        return self._sub.add_parser(name, **kwargs) if name == self._wanted else _Skipped()


#: every command (tests/planner/test_cli.py checks it against the full parser)
_EFFORT_HELP = ("the work it takes, in whatever unit the project uses throughout (hours, days, points): "
                "critical paths and progress by effort add these up")
#: ``planner ready`` shows this many unless told otherwise (``--limit N``, ``--all``)
READY_LIMIT = 20

COMMANDS = frozenset({
    "serve", "server", "init", "import", "plan", "export", "add", "edit", "dep", "move", "set", "mode", "show",
    "ready", "status", "tree", "analyze", "history", "replay", "agent", "claim", "renew", "release", "note",
    "assign", "reap", "agents", "commit", "restore", "log", "checkpoint", "work", "watch", "mcp", "migrate",
})


def _command_in(argv: list[str]) -> str | None:
    """The command named in ``argv`` (after the global options), if it is one and no help is asked for."""
    takes_value = {"--home", "--project", "--store"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif arg in ("-h", "--help"):
            return None
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS and "-h" not in argv and "--help" not in argv else None
    return None


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    common = _common(defaults=False)
    parser = _Parser(prog="planner", description="A shared, durable task plan for many agents.",
                     parents=[_common(defaults=True)])
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    sub: Any = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if only is not None:
        sub = _OnlyOne(sub, only)

    serve = sub.add_parser("serve", parents=[common],
                           help="decide for every agent of the home in one long-running process (a Unix socket in "
                                "the home; SIGTERM or Ctrl-C stops it)")
    serve.add_argument("--http", nargs="?", const="127.0.0.1:8765", metavar="[HOST:]PORT",
                       help="also serve the live web dashboard and its JSON API there (default 127.0.0.1:8765; "
                            "writes need the token in HOME/http.token)")
    server = sub.add_parser("server", parents=[common], help="the home's server: status (exit 0 if one runs) or stop")
    server.add_argument("action", choices=["status", "stop"], help="status: is one running (exit 0) or not (1); stop it")
    init = sub.add_parser("init", parents=[common], help="create the project")
    init.add_argument("--max-depth", type=int, help="how deep the task tree may go (default 8)")
    init.add_argument("--description", help="what the project is for (shown by status)")
    init.add_argument("--lease-ttl", type=float, metavar="SECONDS",
                      help="how long a lease lasts unless renewed, and an agent may stay silent (default 300)")
    init.add_argument("--max-attempts", type=int,
                      help="claims of a task before a failure or expiry fails it for good (default 3)")
    imp = sub.add_parser("import", parents=[common],
                         help="add the tasks of a plan file (fixture JSON, or a Markdown outline .md)")
    imp.add_argument("file", help="the plan file, or - for standard input")
    imp.add_argument("--format", choices=["json", "md"],
                     help="json (the fixture format) or md (a Markdown outline); default: from the file's suffix")
    imp.add_argument("--create", action="store_true",
                     help="create the project when it does not exist (default: refuse, as every command does)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import the valid tasks and record what was dropped (default: all or nothing)")
    imp.add_argument("--dry-run", action="store_true",
                     help="write nothing: list every problem, the file's dependency cycles and the expected "
                          "outcomes compared (exit 1 if any)")
    plan = sub.add_parser("plan", parents=[common], help="break a task down with a decomposer program")
    plan.add_argument("task", help="the task to break down")
    plan.add_argument("--exec", dest="exec_command", required=True, metavar="'COMMAND TEMPLATE'",
                      help="run without a shell; {task} and {title} are filled in; the context comes on "
                           "stdin as JSON, subtasks go to stdout as JSON (e.g. 'python -m planner.plans.example_decomposer')")
    plan.add_argument("--depth", type=int, default=1, help="levels to split, the new subtasks in turn (default 1)")
    plan.add_argument("--timeout", type=float, default=300.0, help="seconds per program run (default 300)")
    exp = sub.add_parser("export", parents=[common], help="write the project as json (re-importable), dot or mermaid")
    exp.add_argument("--format", choices=["json", "dot", "mermaid"], default="json",
                     help="json: the fixture format, re-importable (default); dot: Graphviz; mermaid: a flowchart")
    exp.add_argument("--output", "-o", metavar="FILE", help="write here (atomically) instead of standard output")
    add = sub.add_parser("add", parents=[common], help="add a task")
    add.add_argument("title", help="what is to be done, in a few words")
    add.add_argument("--id", help="the task's id (default: T<n>, the next free number)")
    add.add_argument("--parent", metavar="TASK", help="put it under this task (which becomes a container)")
    add.add_argument("--after", action="append", default=[], metavar="TASK", help="a task this one waits on")
    add.add_argument("--priority", type=str.lower, choices=["low", "medium", "high", "critical"], default="medium",
                     help="low, medium (default), high or critical, in any case: ready work is ordered by it")
    add.add_argument("--effort", type=float, default=1.0, help=_EFFORT_HELP + " (default 1)")
    add.add_argument("--cap", action="append", default=[], metavar="CAPABILITY",
                     help="a capability an agent needs to claim it (repeat for several)")
    add.add_argument("--description", default="", help="the details an agent needs")
    add.add_argument("--verify-command", metavar="COMMAND", help="how to check the work is done (recorded)")
    edit = sub.add_parser("edit", parents=[common], help="change a task's title, priority, effort, ...")
    edit.add_argument("task", help="the task to change")
    edit.add_argument("--title", help="a new title")
    edit.add_argument("--description", help="a new description")
    edit.add_argument("--priority", type=str.lower, choices=["low", "medium", "high", "critical"],
                      help="low, medium, high or critical (any case)")
    edit.add_argument("--effort", type=float, help=_EFFORT_HELP)
    edit.add_argument("--cap", action="append", metavar="CAPABILITY", help="replaces the capabilities")
    dep = sub.add_parser("dep", parents=[common], help="add or remove a dependency")
    dep.add_argument("action", choices=["add", "rm"], help="add: TASK waits on DEPENDS_ON; rm: no longer")
    dep.add_argument("task", help="the task that waits")
    dep.add_argument("depends_on", help="the task it waits on (a cycle is refused)")
    move = sub.add_parser("move", parents=[common], help="move a task under another (or to the top with --top)")
    move.add_argument("task", help="the task to move (with its subtree)")
    move.add_argument("parent", nargs="?", help="its new parent")
    move.add_argument("--top", action="store_true", help="move it to the top level instead")
    state = sub.add_parser("set", parents=[common], help="change a task's state")
    state.add_argument("task", help="the task")
    state.add_argument("state", choices=STATES, help="the state it should go to (the README's state table)")
    state.add_argument("--reason", help="why (recorded in the log)")
    state.add_argument("--by", metavar="WHO", help="who did it (recorded in the log)")
    state.add_argument("--token", type=int, help="the lease's token, when the task is leased")
    mode = sub.add_parser("mode", parents=[common], help="switch between planning and working")
    mode.add_argument("mode", choices=["planning", "working"],
                      help="planning: claims paused while the plan changes; working: agents may claim")
    at = _at_option()
    show = sub.add_parser("show", parents=[common, at], help="one task, in full")
    show.add_argument("task", help="the task")
    ready = sub.add_parser("ready", parents=[common, at], help="the ready tasks, best first")
    shown = ready.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=_positive_int, default=READY_LIMIT, metavar="N",
                       help=f"show the best N (default {READY_LIMIT})")
    shown.add_argument("--all", action="store_const", dest="limit", const=None, help="show every ready task")
    sub.add_parser("status", parents=[common, at], help="counts per state, mode, size")
    sub.add_parser("tree", parents=[common, at], help="the task tree")
    analyze = sub.add_parser("analyze", parents=[common],
                             help="critical path, parallel levels, bottlenecks, capabilities, progress")
    analyze.add_argument("--top", type=int, default=10, help="how many bottlenecks to list (default 10)")
    history = sub.add_parser("history", parents=[common], help="the events of one task")
    history.add_argument("task", help="the task whose events to list")
    replay = sub.add_parser("replay", parents=[common], help="rebuild every projection from the log")
    replay.add_argument("--at", metavar="SEQ|TIME",
                        help="the project as it was after event SEQ, or at TIME (ISO 8601, e.g. "
                             "2026-11-28T15:00:00Z; local time when no zone is given)")
    replay.add_argument("--verify", action="store_true",
                        help="compare the incremental state with a full recomputation; exit 1 on a difference")
    _agent_commands(sub, common)
    return parser


def _at_option() -> argparse.ArgumentParser:
    """``--at SEQ|TIME`` for the queries that can look at the past (:meth:`Service.at`)."""
    at = argparse.ArgumentParser(add_help=False)
    at.add_argument("--at", metavar="SEQ|TIME",
                    help="the project as it was at that seq, or at that ISO 8601 time (built from the nearest "
                         "snapshot before it, read-only)")
    return at


def _view(s: Any, args: Any) -> Any:
    """The live project, or with ``--at`` the project as it was then."""
    point = getattr(args, "at", None)
    return s if point is None else s.at(point)


def _agent_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Agents, leases, workers and the live view."""
    agent = sub.add_parser("agent", parents=[common], help="register, deregister or heartbeat an agent")
    verbs = agent.add_subparsers(dest="verb", required=True, metavar="VERB")
    reg = verbs.add_parser("register", parents=[common], help="register (or update) an agent")
    reg.add_argument("name", help="the agent's name (unique in the project)")
    reg.add_argument("--cap", action="append", default=[], metavar="CAPABILITY", help="what it can do (repeat for several)")
    reg.add_argument("--capacity", type=int, default=1, help="tasks it may hold at once (default 1)")
    reg.add_argument("--kind", choices=["ai", "human"], default="ai", help="ai (default) or human")
    dereg = verbs.add_parser("deregister", parents=[common], help="remove an agent; its tasks go back to pending")
    dereg.add_argument("name", help="the agent (what it holds goes back to pending)")
    dereg.add_argument("--reason", help="why (recorded in the log)")
    beat = verbs.add_parser("heartbeat", parents=[common], help="say the agent is alive")
    beat.add_argument("name", help="the agent that is alive")
    claim = sub.add_parser("claim", parents=[common], help="lease the best ready task an agent can do")
    claim.add_argument("agent", help="the agent that claims (registered first)")
    claim.add_argument("--task", help="this task rather than the best one")
    claim.add_argument("--ttl", type=float, metavar="SECONDS", help="the lease's TTL (default: the project's)")
    renew = sub.add_parser("renew", parents=[common], help="extend a lease")
    renew.add_argument("task", help="the leased task")
    renew.add_argument("token", type=int, help="the lease's token (from claim)")
    renew.add_argument("--ttl", type=float, metavar="SECONDS", help="the new TTL from now (default: the project's)")
    release = sub.add_parser("release", parents=[common], help="give a leased task back (to pending)")
    release.add_argument("task", help="the leased task")
    release.add_argument("token", type=int, help="the lease's token (from claim)")
    release.add_argument("--reason", help="why (recorded in the log)")
    check = sub.add_parser("note", parents=[common], help="save notes or data mid-task (a task's checkpoint)")
    check.add_argument("task", help="the task worked on")
    check.add_argument("--notes", default="", help="where the work stands, for whoever resumes it")
    check.add_argument("--data", metavar="JSON", help="a JSON object")
    check.add_argument("--token", type=int, help="the lease's token, when the task is leased")
    check.add_argument("--by", metavar="WHO", help="who wrote it (recorded in the log)")
    assign = sub.add_parser("assign", parents=[common], help="hand ready tasks to available agents in one batch")
    assign.add_argument("--agent", action="append", metavar="AGENT", help="only these agents (default: all active)")
    assign.add_argument("--ttl", type=float, metavar="SECONDS", help="the leases' TTL (default: the project's)")
    sub.add_parser("reap", parents=[common], help="expire the leases that have run out")
    sub.add_parser("agents", parents=[common, _at_option()], help="agents: health, load, leases")
    sub.add_parser("commit", parents=[common],
                            help="commit what is not archived yet to the project's git archive")
    restore = sub.add_parser("restore", parents=[common],
                             help="rebuild a damaged log from the git archive plus the intact events after it "
                                  "(with a PostgreSQL --store: a lost project, from this home's archive)")
    restore.add_argument("--to", metavar="TAG|REV", help="go back to a recovery point (discards later events, "
                                                          "kept in quarantine; needs --yes)")
    restore.add_argument("--yes", action="store_true", help="confirm discarding the events after --to")
    migrate = sub.add_parser("migrate", parents=[common],
                             help="copy the project exactly to another store (files <-> PostgreSQL), then verify it")
    migrate.add_argument("--to", required=True, metavar="STORE",
                         help="the target store: postgresql://user@host/db[?schema=NAME], or a directory / file:PATH "
                              "(the project must not hold records there)")
    log = sub.add_parser("log", parents=[common], help="the git archive's history, newest first")
    log.add_argument("--limit", type=int, metavar="N", help="the newest N commits (default: all)")
    point = sub.add_parser("checkpoint", parents=[common], help="recovery points: tags in the git archive")
    point_sub = point.add_subparsers(dest="point_action", required=True, metavar="ACTION")
    point_create = point_sub.add_parser("create", parents=[common], help="tag the archive's newest commit")
    point_create.add_argument("name", help="the recovery point's name (a git tag)")
    point_create.add_argument("--message", "-m", help="what this point is (the tag's message)")
    point_sub.add_parser("list", parents=[common], help="the recovery points")
    work = sub.add_parser("work", parents=[common], help="run and supervise N worker processes")
    work.add_argument("--agents", type=int, required=True, metavar="N", help="how many workers (agents)")
    work.add_argument("--lines", action="store_true",
                      help="one plain line per happening (claims, completions, crashes), no live table; the "
                           "default when the output is not a terminal")
    what = work.add_mutually_exclusive_group(required=True)
    what.add_argument("--exec", dest="exec_command", metavar="'COMMAND TEMPLATE'",
                      help="run for each task, without a shell; {id} {title} {description} {effort} are filled "
                           "in; exit 0 completes the task (after its verify command), anything else fails it")
    what.add_argument("--simulate", action="store_true",
                      help="simulated agents: work proportional to effort, a checkpoint half way, failures and "
                           "crashes at the given rates")
    work.add_argument("--capabilities", action="append", metavar="CAP[,CAP...]",
                      help="what the agents can do (default: every capability the project's tasks require)")
    work.add_argument("--capacity", type=int, default=1, help="tasks each agent works on at once (default 1)")
    work.add_argument("--ttl", type=float, metavar="SECONDS", help="the leases' TTL (default: the project's)")
    work.add_argument("--timeout", type=float, metavar="SECONDS", help="per command run (default: none)")
    work.add_argument("--memory-limit", type=float, metavar="MB",
                      help="stop a worker whose RSS, with its commands', goes over this (checked every --refresh)")
    work.add_argument("--until-idle", action="store_true",
                      help="stop once nothing the agents can do is ready and nothing is held")
    work.add_argument("--prefix", default="agent", help="agents are named PREFIX-1 .. PREFIX-N (default 'agent')")
    work.add_argument("--max-restarts", type=int, default=5,
                      help="restarts per agent before giving it up, and exiting 1 (default 5)")
    work.add_argument("--backoff", type=float, default=0.5, metavar="SECONDS",
                      help="the first restart's delay, doubled per crash up to 30 s (default 0.5)")
    work.add_argument("--grace", type=float, default=5.0, metavar="SECONDS",
                      help="how long stopping workers get before SIGKILL (default 5)")
    work.add_argument("--refresh", type=float, default=1.0, metavar="SECONDS",
                      help="how often CPU and memory are sampled and the table redrawn (default 1)")
    work.add_argument("--output-dir", metavar="DIR", help="keep each command's output as DIR/TASK.ATTEMPT.log")
    work.add_argument("--journal-dir", metavar="DIR",
                      help="each agent journals the commands the planner acknowledged to DIR/AGENT.jsonl "
                           "(for python -m stress.verify)")
    work.add_argument("--time-scale", type=float, default=0.05, metavar="SECONDS",
                      help="--simulate: seconds of work per effort hour (default 0.05)")
    work.add_argument("--fail-rate", type=float, default=0.0, help="--simulate: probability an attempt fails")
    work.add_argument("--crash-rate", type=float, default=0.0,
                      help="--simulate: probability an attempt crashes its worker (SIGKILL)")
    work.add_argument("--seed", type=int, default=0, help="--simulate: the random seed (default 0)")
    watch = sub.add_parser("watch", parents=[common], help="the project live: progress, agents, latest events")
    watch.add_argument("--once", action="store_true", help="print one frame and exit (with --json: as JSON)")
    watch.add_argument("--events", type=int, default=10, metavar="N", help="how many latest events (default 10)")
    mcp = sub.add_parser("mcp", parents=[common],
                         help="serve the plan as MCP tools to a coding agent on stdin/stdout (see docs/mcp.md)")
    mcp.add_argument("--agent", metavar="NAME", help="the agent name it claims as (default: mcp-<pid>)")
    mcp.add_argument("--capabilities", action="append", metavar="CAP[,CAP...]",
                     help="what the agent can do (default: nothing a task requires)")
    mcp.add_argument("--capacity", type=int, default=1, help="tasks the agent may hold at once (default 1)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _Parser.json_errors = "--json" in argv
    args = _parser(only=_command_in(argv)).parse_args(argv)
    try:
        result = _run(args)
    except Exception as exc:
        if not _is_user_error(exc):
            raise  # a bug: the traceback is what helps
        problems = getattr(exc, "problems", None)  # an import lists every problem, one per line
        message = str(exc) if problems else _one_line(exc)
        if args.json:
            error = {"type": type(exc).__name__, "message": message.splitlines()[0]}
            if problems:
                error["problems"] = [{"where": w, "problem": p} for w, p in
                                     (x if isinstance(x, tuple) else tuple(x.split(": ", 1)) for x in problems)]
            print(json.dumps({"error": error}))
        else:
            print(f"planner: {message}", file=sys.stderr)
        return 2
    code, payload, human = result
    if args.json:
        import orjson  # (the log's JSON library: 5x json.dumps on large listings)

        sys.stdout.flush()
        sys.stdout.buffer.write(orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n")
    elif human is not None:
        try:
            human()
        except BrokenPipeError:  # piped into `head`: the reader has what it wanted; no traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def _validation_error(exc: Exception) -> bool:
    """A pydantic ValidationError, without importing pydantic (queries never load it)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(exc, pydantic.ValidationError)


def _is_user_error(exc: Exception) -> bool:
    from eventstore import EventStoreError
    from planner.domain.errors import DomainError

    return isinstance(exc, DomainError | EventStoreError) or _validation_error(exc)


#: the engine's messages name its Python API; on the command line, its options (what, then how)
_IN_CLI_TERMS = (
    (" (or Planner.open(..., create=True))", ""),
    ("run repair() (or `planner restore`) to recover", "run `planner restore` to recover"),
    ("Pass confirm=True (--yes) to go ahead", "Add --yes to go ahead"),
    ("Go back on purpose with to=<revision> and confirm=True", "Go back on purpose with --to REVISION --yes"),
    (", or open the log with a larger max_record_bytes", ""),
)
#: pydantic's field names for the options that set them
_OPTION_OF = {"capabilities": "--cap", "depends_on": "--after", "id": "--id", "title": "title",
              "effort": "--effort", "priority": "--priority", "parent": "--parent", "agent": "the agent name"}


def _invalid(exc: Exception) -> dict[str, Any] | None:
    """The first problem of a validation error, raised here (pydantic) or by a server (the wire
    carries it as attributes): ``loc`` (a list), ``msg``, ``type``, maybe ``input``."""
    if _validation_error(exc):
        first = exc.errors()[0]
        return {**first, "loc": [str(p) for p in first["loc"]]}
    if type(exc).__name__ == "ValidationError" and isinstance(getattr(exc, "loc", None), str):
        found = {"loc": exc.loc.split(".") if exc.loc else [], "msg": getattr(exc, "msg", ""),
                 "type": getattr(exc, "kind", "")}
        if hasattr(exc, "input"):
            found["input"] = exc.input
        return found
    return None


def _one_line(exc: Exception) -> str:
    first = _invalid(exc)
    if first is not None:
        loc = first["loc"]
        where = _OPTION_OF.get(loc[0], ".".join(loc)) if loc else "input"
        value = f" {first['input']!r}" if isinstance(first.get("input"), str | int | float) else ""
        message = first["msg"]
        if first.get("type") == "string_pattern_mismatch":  # (not the raw regex: what is allowed)
            message = "use up to 128 ASCII letters, digits, '.', '_', ':' and '-', starting with a letter or digit"
        return f"invalid {where}{value}: {message}"
    message = str(exc).splitlines()[0]
    for api, cli in _IN_CLI_TERMS:
        message = message.replace(api, cli)
    return message


def _open(args: Any, create: bool = False):
    from planner.service.opening import open_service

    return open_service(args.home, args.project, create=create, **_store(args))


def _store(args: Any) -> dict[str, Any]:
    """``store=`` for the service when ``--store``/``PLANNER_STORE`` names one (served only by a server of that store)."""
    return {"store": args.store} if getattr(args, "store", None) else {}


def _run(args: Any) -> tuple[int, Any, Any]:
    """Do the command; return (exit code, JSON payload, a function that prints it for people)."""
    if args.no_server:
        from planner.service.wire import NO_SERVER_ENV

        os.environ[NO_SERVER_ENV] = "1"  # (for this process and the workers it starts)
    if args.command == "serve":
        from planner.server.server import serve

        return serve(args.home, http=args.http, store=args.store), None, lambda: None
    if args.command == "server":
        return _server(args)
    if args.command == "init":
        return _init(args)
    if args.command == "replay":
        return _replay(args)
    if args.command == "restore":
        return _restore(args)
    if args.command == "migrate":
        return _migrate(args)
    if args.command == "import":
        return _import(args)
    if args.command == "work":
        return _work(args)
    if args.command == "mcp":
        return _mcp(args)
    with _open(args) as s:
        if args.command in _AGENT_COMMANDS:
            return _AGENT_COMMANDS[args.command](s, args)
        if args.command == "add":
            added = s.add_task(args.title, id=args.id, parent=args.parent, depends_on=args.after,
                               priority=args.priority, effort=args.effort, capabilities=args.cap,
                               description=args.description, verify_command=args.verify_command)
            return 0, added, lambda: print(added["id"])
        if args.command == "edit":
            changes = {"title": args.title, "description": args.description, "priority": args.priority,
                       "effort": args.effort, "capabilities": tuple(args.cap) if args.cap else None}
            task = s.edit_task(args.task, **changes)
            given = ", ".join(f"{k} {task[k] if k != 'capabilities' else ','.join(task[k]) or '-'}"
                              for k, v in changes.items() if v is not None)
            return 0, task, lambda: print(f"{args.task}: {given or 'nothing to change'}")
        if args.command == "dep":
            task = (s.add_dependency if args.action == "add" else s.remove_dependency)(args.task, args.depends_on)
            verb = "now waits on" if args.action == "add" else "no longer waits on"
            return 0, task, lambda: print(f"{args.task} {verb} {args.depends_on}")
        if args.command == "move":
            task = s.move_task(args.task, None if args.top else args.parent)
            return 0, task, lambda: print(f"{args.task} moved " + (f"under {task['parent']}" if task["parent"]
                                                                   else "to the top"))
        if args.command == "set":
            before = None if args.json else s.show(args.task)["state"]
            task = s.set_state(args.task, args.state, reason=args.reason, by=args.by, token=args.token)
            limit = s.status()["max_attempts"] if not args.json and task["state"] != args.state else None
            return 0, task, lambda: print(_said_set(args.task, args.state, before, task, limit))
        if args.command == "mode":
            before = None if args.json else s.status()["mode"]
            stats = s.set_mode(args.mode)
            said = {"planning": "planning (claims paused)", "working": "working (agents may claim)"}[stats["mode"]]
            return 0, stats, lambda: print(f"project {args.project}: {'already ' if before == stats['mode'] else ''}"
                                           f"{said}")
        if args.command in ("show", "ready", "status", "tree"):
            s = _view(s, args)
        if args.command == "show":
            task = s.show(args.task)
            return 0, task, lambda: _print_task(task)
        if args.command == "ready":
            rows = s.ready(args.limit)
            more = not args.json and args.limit is not None and len(rows) == args.limit  # (maybe: say how many)
            total = s.status()["ready"] if more else len(rows)

            def show_ready() -> None:
                _print_table(rows, ["id", "priority", "effort", "weight", "title"])
                if total > len(rows):
                    print(f"({len(rows)} of {total:,} ready tasks; --all shows every one)")
            return 0, rows, show_ready
        if args.command == "status":
            stats = s.status()
            return 0, stats, lambda: _print_status(stats)
        if args.command == "plan":
            added = s.decompose(args.task, args.exec_command, depth=args.depth, timeout=args.timeout)
            return 0, {"added": added}, lambda: print(f"{len(added)} subtasks added under {args.task}"
                                                      + (": " + ", ".join(added) if added else ""))
        if args.command == "export":
            return _export(s, args)
        if args.command == "analyze":
            report = s.analyze(top=args.top)
            return 0, report, lambda: _print_analysis(report)
        if args.command == "tree":
            tree = s.tree()
            return 0, tree, lambda: _print_tree(tree)
        if args.command == "history":
            events = s.history(args.task)
            return 0, events, lambda: [print(f"{e['seq']:>6}  {e['ts']}  {e['type']:<22} {json.dumps(e['data'])}")
                                       for e in events]
    raise AssertionError(args.command)


def _server(args: Any) -> tuple[int, Any, Any]:
    from planner.server.control import server_status, stop_server

    if args.action == "status":
        info = server_status(args.home)
        if info is None:
            return 1, None, lambda: print(f"no planner server serves {args.home}")
        return 0, info, lambda: print(f"serving {info['home']} (pid {info['pid']}, socket {info['socket']}, up "
                                      f"{info['uptime']:.0f} s{', store ' + info['store'] if info.get('store') else ''}): "
                                      f"{', '.join(info['projects']) or 'no project open yet'}")
    stopped = stop_server(args.home)
    return 0, {"stopped": stopped}, lambda: print(f"stopped the server (pid {stopped})" if stopped
                                                  else f"no planner server serves {args.home}")


def _in(expires_at: float) -> str:
    import time

    return f"{expires_at - time.time():.0f} s"


def _agent(s: Any, args: Any) -> tuple[int, Any, Any]:
    if args.verb == "register":
        row = s.register_agent(args.name, capabilities=args.cap, capacity=args.capacity, kind=args.kind)
    elif args.verb == "deregister":
        row = s.deregister_agent(args.name, reason=args.reason)
    else:
        row = s.heartbeat(args.name)
    what = {"register": "registered", "deregister": "deregistered", "heartbeat": "heard from"}[args.verb]
    return 0, row, lambda: print(f"{args.name} {what}")


def _claim(s: Any, args: Any) -> tuple[int, Any, Any]:
    lease = s.claim(args.agent, task=args.task, ttl=args.ttl)
    if lease is None:
        return 0, None, lambda: print(f"nothing ready that {args.agent} can do")
    return 0, lease, lambda: print(f"{lease['task']} leased to {lease['agent']}: token {lease['token']}, expires in "
                                   f"{_in(lease['expires_at'])} (attempt {lease['attempt']})")


def _renew(s: Any, args: Any) -> tuple[int, Any, Any]:
    lease = s.renew(args.task, args.token, ttl=args.ttl)
    return 0, lease, lambda: print(f"{args.task}: token {args.token} expires in {_in(lease['expires_at'])}")


def _release(s: Any, args: Any) -> tuple[int, Any, Any]:
    task = s.release(args.task, args.token, reason=args.reason)
    return 0, task, lambda: print(f"{args.task} released: {task['state']}")


def _checkpoint(s: Any, args: Any) -> tuple[int, Any, Any]:
    from planner.domain.errors import DomainError

    data: Any = {}
    if args.data is not None:
        try:
            data = json.loads(args.data)
        except ValueError as exc:
            raise DomainError(f"--data is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise DomainError(f"--data must be a JSON object, not {type(data).__name__}: {args.data[:60]!r}")
    saved = s.checkpoint(args.task, notes=args.notes, data=data, by=args.by, token=args.token)
    return 0, saved, lambda: print(f"{args.task}: checkpoint saved (seq {saved['seq']})")


def _assign(s: Any, args: Any) -> tuple[int, Any, Any]:
    leases = s.assign(args.agent, ttl=args.ttl)
    return 0, leases, lambda: print("\n".join(f"{x['task']} -> {x['agent']} (token {x['token']})" for x in leases)
                                    or "nothing to assign")


def _reap(s: Any, args: Any) -> tuple[int, Any, Any]:
    expired = s.reap()
    return 0, expired, lambda: print("\n".join(f"expired {x['task']} (held by {x['agent']}, token {x['token']}): "
                                                f"{x['reason']}" for x in expired) or "no lease had run out")


def _agents(s: Any, args: Any) -> tuple[int, Any, Any]:
    rows = _view(s, args).agents()
    return 0, rows, lambda: _print_agents(rows)


def _watch(s: Any, args: Any) -> tuple[int, Any, Any]:
    from planner.cli.watch import render, watch

    frame = watch(s, once=args.once, json_mode=args.json, shown=args.events)
    if not args.once:
        return 0, frame, lambda: None  # it was on the screen
    return 0, frame, lambda: _rich_print(lambda width: render(frame, width))


def _restore(args: Any) -> tuple[int, Any, Any]:
    """Restore (the log may be too damaged to open a planner on), then replay the result."""
    from pathlib import Path

    from eventstore.postgres.names import is_postgres
    from eventstore.restore import restore
    from planner.domain.errors import ProjectNotFound
    from planner.engine.engine import home_store
    from planner.service.service import Service

    if args.store and is_postgres(args.store):  # a store without files: rebuilt from this home's archive
        from eventstore.rebuild import rebuild
        from planner.engine.engine import archives_dir

        report = rebuild(args.store, args.project, archives_dir(args.home, args.project), to=args.to, confirm=args.yes)
    else:
        path = Path(args.store or home_store(args.home)) / args.project
        if not path.is_dir():
            raise ProjectNotFound(args.project, str(args.home))
        report = restore(path, to=args.to, confirm=args.yes)
    with Service.open(args.home, args.project, store=args.store) as s:  # replays what snapshots do not cover
        verified = s.replay(verify=True)["verified"]
    payload = {**report.to_dict(), "verified": verified}
    return (0 if verified else 1), payload, lambda: print(f"{report}\nreplay: "
                                                          + ("verified" if verified else "DIFFERENCES"))


def _migrate(args: Any) -> tuple[int, Any, Any]:
    """Copy the project from its store (``--store``, else the home's) to ``--to``; verified."""
    from eventstore.migrate import migrate
    from planner.engine.engine import home_store

    report = migrate(args.store or home_store(args.home), args.to, args.project).to_dict()
    return 0, report, lambda: print(f"copied project {report['project']} ({report['records']} events in "
                                    f"{report['batches']} batches, {len(report['snapshots'])} snapshots) from "
                                    f"{report['source']} to {report['target']}: verified")


def _commit(s: Any, args: Any) -> tuple[int, Any, Any]:
    info = s.archive()
    return 0, info, lambda: print(
        f"commit {info['sha'][:12]} (#{info['number']}): {info['events']} events, seqs "
        f"{info['first_seq']}..{info['last_seq']}" if info is not None
        else "nothing to archive (or another process is committing right now)")


def _archive_of(s: Any) -> Any:
    from eventstore.archive import Archive
    from planner.domain.errors import DomainError

    planner = s.planner
    if planner.archive_dir is None:  # (only a store without files opened without a home)
        raise DomainError(f"project {planner.project!r} has no git archive here: open it with --home")
    return Archive(planner.log, directory=planner.archive_dir)


def _log(s: Any, args: Any) -> tuple[int, Any, Any]:
    with _archive_of(s) as archive:
        rows = [c._asdict() for c in archive.history(args.limit)]
    def human() -> None:
        if not rows:
            print("no commits in the git archive yet: `planner commit` makes one now (they are also made in "
                  "the background as events accumulate)")
        for r in rows:
            print(f"{r['sha'][:12]} #{r['number']:<5} seqs {r['first_seq']}..{r['last_seq']} ({r['events']} events)")
    return 0, rows, human


def _recovery_point(s: Any, args: Any) -> tuple[int, Any, Any]:
    with _archive_of(s) as archive:
        if args.point_action == "create":
            s.archive()  # the point covers everything up to now
            sha = archive.tag(args.name, args.message)
            tag = next(t for t in archive.tags() if t.name == args.name)
            return 0, tag._asdict(), lambda: print(f"recovery point {args.name}: {sha[:12]}, "
                                                   f"events up to seq {tag.archived_seq}")
        rows = [t._asdict() for t in archive.tags()]
    return 0, rows, lambda: [print(f"{r['name']:<24} {r['sha'][:12]} up to seq {r['archived_seq']}") for r in rows]


_AGENT_COMMANDS = {"agent": _agent, "claim": _claim, "renew": _renew, "release": _release,
                   "note": _checkpoint, "commit": _commit, "log": _log, "checkpoint": _recovery_point,
                   "assign": _assign, "reap": _reap, "agents": _agents,
                   "watch": _watch}


def _work(args: Any) -> tuple[int, Any, Any]:
    from planner.agents.simulate import Simulation
    from planner.agents.supervisor import WorkOptions, run_work

    caps = None if args.capabilities is None else _capabilities(args.capabilities)
    sim = Simulation(args.time_scale, args.fail_rate, args.crash_rate, args.seed) if args.simulate else None
    options = WorkOptions(
        home=args.home, project=args.project, agents=args.agents, command=args.exec_command, simulation=sim,
        capabilities=caps, capacity=args.capacity, ttl=args.ttl, timeout=args.timeout,
        memory_limit_mb=args.memory_limit, until_idle=args.until_idle, prefix=args.prefix,
        max_restarts=args.max_restarts, backoff=args.backoff, grace=args.grace, refresh=args.refresh,
        output_dir=args.output_dir, journal_dir=args.journal_dir)
    summary = run_work(options, json_mode=args.json, lines=args.lines or not sys.stdout.isatty())
    return summary["exit_code"], summary, lambda: _print_work(summary)


def _capabilities(values: list[str]) -> tuple[str, ...]:
    """``--capabilities a,b --capabilities c`` as ``("a", "b", "c")``."""
    return tuple(c.strip() for value in values for c in value.split(",") if c.strip())


def _mcp(args: Any) -> tuple[int, Any, Any]:
    from planner.mcp.stdio import serve_stdio

    code = serve_stdio(args.home, args.project, agent=args.agent, capabilities=_capabilities(args.capabilities or ()),
                       capacity=args.capacity)
    args.json = False  # stdout was the protocol's: nothing may follow it there
    return code, None, None


def _print_work(s: dict) -> None:
    tasks = ", ".join(f"{n} {k}" for k, n in s["tasks"].items()) or "no tasks"
    crashes = sum(w["crashes"] for w in s["workers"])
    print(f"{s['agents']} agents stopped ({s['stopped_by']}) after {s['seconds']:.1f} s: {tasks}; "
          f"{crashes} worker crash{'es' if crashes != 1 else ''}; supervisor at most {s['supervisor_max_rss_mb']} MB")
    for problem in s["problems"]:
        print(f"  problem: {problem}")


def _print_agents(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("agent", "kind", "health", "load", "leases", "capabilities")
    for a in rows:
        leases = ", ".join(f"{x['task']} (token {x['token']}, {_expiry(x['expires_in'])}, attempt "
                           f"{x['attempt']})" for x in a["leases"]) or "-"
        table.add_row(a["id"], a["kind"], a["health"], f"{len(a['leases'])}/{a['capacity']}, effort "
                      f"{a['effort_held']:g}", leases, ", ".join(a["capabilities"]) or "-")
    Console().print(table)


def _expiry(seconds_left: float) -> str:
    """A lease's time left; one that ran out is expired by the next write (or the server's reaper)."""
    return f"expires in {seconds_left:.0f} s" if seconds_left >= 0.5 else "expired, not reaped yet"


def _rich_print(renderable: Any) -> None:
    """Print ``renderable(width)`` for the terminal's width."""
    from rich.console import Console

    console = Console()
    console.print(renderable(console.width))


#: ``planner init``'s options: (name in the engine, default) (they apply when the project is created)
_INIT_OPTIONS = {"max_depth": 8, "description": "", "lease_ttl": 300.0, "max_attempts": 3}


def _init(args: Any) -> tuple[int, Any, Any]:
    """Create the project; on an existing one, say so (and refuse settings it cannot take now)."""
    from planner.domain.errors import DomainError, ProjectNotFound
    from planner.service.service import Service

    given = {name: getattr(args, name) for name in _INIT_OPTIONS if getattr(args, name) is not None}
    try:
        with Service.open(args.home, args.project, **_store(args)) as s:
            stats = s.status()
    except ProjectNotFound:
        with Service.open(args.home, args.project, create=True, **_store(args), **{**_INIT_OPTIONS, **given}) as s:
            stats = s.status()
        return 0, stats, lambda: print(f"project {args.project} ready in {args.home}")
    if given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise DomainError(f"project {args.project} exists already in {args.home}: {options} "
                          f"{'applies' if len(given) == 1 else 'apply'} only when a project is created (it keeps max depth {stats['max_depth']}, lease TTL "
                          f"{stats['lease_ttl']:g} s, max attempts {stats['max_attempts']})")
    return 0, stats, lambda: print(f"project {args.project} exists already in {args.home}: nothing changed")


def _import(args: Any) -> tuple[int, Any, Any]:
    from planner.plans.importing import read_plan

    plan = read_plan(args.file, args.format)  # before creating anything: a bad file leaves no project behind
    if args.dry_run:
        return _check_import(args, plan)
    from planner.domain.errors import DomainError, ProjectNotFound
    from planner.plans.importing import refuse_if_invalid

    try:
        service = _open(args)
    except ProjectNotFound as exc:
        if not args.create:  # (a typo in --project must not make a stray project)
            raise DomainError(f"{exc}, or import with --create") from None
        if not args.skip_invalid:
            refuse_if_invalid(plan)  # decided before the project exists: a refusal creates nothing
        service = _open(args, create=True)
    with service as s:
        report = s.import_plan(plan, skip_invalid=args.skip_invalid)
    mismatched = report.get("expected_outcomes", {}).get("mismatched", [])

    def human() -> None:
        print(f"imported {report['imported']} tasks from {report['source']} into {args.project}")
        for d in report["dropped"]:
            print(f"  dropped {d['where']}: {d['problem']}")
        for t in report.get("states_translated", []):
            print(f"  {t['tasks']} task{'s' if t['tasks'] != 1 else ''} {t['from']} -> {t['to']}"
                  + (f" ({t['note']})" if t["note"] else ""))
        outcomes = report.get("expected_outcomes")
        if outcomes:
            print(f"expected outcomes: {len(outcomes['matched'])} match, {len(mismatched)} differ"
                  + (f", not checked: {', '.join(outcomes['unchecked'])}" if outcomes["unchecked"] else ""))
            for m in mismatched:
                print(f"  {m['key']}: the file expects {m['expected']}, the planner computes {m['computed']}")

    return (1 if mismatched else 0), report, human


def _check_import(args: Any, plan: Any) -> tuple[int, Any, Any]:
    from planner.domain.errors import ProjectNotFound
    from planner.plans.importing import check_plan

    try:
        with _open(args) as s:
            report = s.check_plan(plan)
    except ProjectNotFound:
        report = check_plan(None, plan)  # as an import into a new project would go
    mismatched = report.get("expected_outcomes", {}).get("mismatched", [])

    def human() -> None:
        print(f"{report['source']}: {report['would_import']} tasks would be imported; nothing written")
        for problem in report["problems"]:
            print(f"  {problem['where']}: {problem['problem']}")
        for cycle in report["cycles"]:
            edges = ", ".join(f"{a} -> {b}" for a, b in cycle["edges"])
            print(f"  a cycle among {', '.join(cycle['tasks'])}, through the edges {edges}")
        for m in mismatched:
            print(f"  expected {m['key']} {m['expected']}, computed {m['computed']}")

    return (1 if report["problems"] or mismatched else 0), report, human


def _export(s: Any, args: Any) -> tuple[int, Any, Any]:
    text = s.export(args.format)
    if args.output:
        from eventstore.fsutil import atomic_write

        atomic_write(args.output, text.encode())
        return 0, {"written": args.output, "format": args.format, "bytes": len(text.encode())}, None
    if args.json and args.format == "json":
        return 0, json.loads(text), None
    return 0, {"format": args.format, "text": text}, lambda: sys.stdout.write(text)


def _replay(args: Any) -> tuple[int, Any, Any]:
    """Rebuild from the log (optionally up to --at); with --verify, compare with a recomputation."""
    with _open(args) as s, _progress(args, "replaying", s.seq) as advance:
        payload = s.replay(at=args.at, verify=args.verify, progress=lambda done, total: advance(done))
    code = 1 if args.verify and not payload["verified"] else 0
    seconds = payload["seconds"]
    return code, payload, lambda: print(
        f"replayed {payload['seq']} events into {payload['tasks']} tasks in {seconds * 1000:.1f} ms"
        + ("" if not args.verify else "; " + ("verified: incremental == full replay" if code == 0
                                               else f"DIFFERENCES in {', '.join(payload['differences'])}"))
    )


@contextmanager
def _progress(args: Any, what: str, total: int) -> Iterator[Any]:
    """A progress bar on stderr for long work, for people only (a terminal, no --json,
    more than 50,000 steps); yields ``advance(done)``."""
    if args.json or total < 50_000 or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.update(task, completed=done)


def _print_tree(tree: list[dict]) -> None:
    from rich import print as rprint
    from rich.tree import Tree

    top = Tree("[bold]tasks")

    def add(branch: Tree, node: dict) -> None:
        mark = "[green]done[/]" if node["done"] else ("[cyan]ready[/]" if node["ready"] else node["state"])
        child = branch.add(f"{node['id']}  {node['title']}  ({mark})")
        for c in node["children"]:
            add(child, c)

    for node in tree:
        add(top, node)
    rprint(top)


def _said_set(task_id: str, wanted: str, before: str | None, task: dict[str, Any], max_attempts: int | None) -> str:
    """What ``planner set`` did, in one line (it may differ from what was asked: see the state table)."""
    state = task["state"]
    if before == wanted == state:
        return f"{task_id} was already {state}: nothing changed"
    if state == wanted:
        return f"{task_id}: {before} -> {state}" if before else f"{task_id}: {state}"
    if wanted == "failed" and state == "pending":
        return (f"{task_id}: failed, and back to pending for another attempt "
                f"({task['attempts']} of {max_attempts} used)")
    return f"{task_id}: {before} -> {state} (asked for {wanted})"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return value


def _print_table(rows: list[dict], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    Console().print(table)


def _print_task(task: dict) -> None:
    for key, value in task.items():
        print(f"{key:>15}: {_plain(value)}")


def _plain(value: Any) -> str:
    """A value as people read it: ``-`` for nothing, lists joined, mappings as ``key value`` pairs."""
    if value is None or value in ([], {}, ""):
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _print_analysis(a: dict) -> None:
    print(f"{a['tasks']} tasks ({a['leaves']} leaves, depth {a['max_depth']}), effort {a['total_effort']:g} "
          f"({a['remaining_effort']:g} remaining, {a['progress']:.0%} done)")
    print(f"critical path ({a['critical_path_effort']:g}): {' -> '.join(a['critical_path']) or '-'}")
    widths = [len(level) for level in a["levels"]]
    print(f"{len(widths)} levels; widest {max(widths, default=0)} tasks can run in parallel")
    for n, level in enumerate(a["levels"][:10]):
        shown = ", ".join(level[:8]) + (f", ... (+{len(level) - 8})" if len(level) > 8 else "")
        print(f"  level {n}: {shown}")
    if a["bottlenecks"]:
        print("bottlenecks (tasks waited on by the most others):")
        for b in a["bottlenecks"]:
            print(f"  {b['id']:<24} {b['dependents']} waiting")
    if a["capabilities"]:
        print("capabilities: " + ", ".join(f"{k} {v}" for k, v in a["capabilities"].items()))


def _print_status(stats: dict) -> None:
    leaves, tasks = stats["progress"]["leaves"], stats["tasks"]
    grouping = f" ({leaves} to do, {tasks - leaves} grouping them)" if tasks > leaves else ""
    print(f"project {stats['project']} ({stats['mode']}), {tasks} tasks{grouping}, {stats['ready']} ready, "
          f"log at seq {stats['seq']}")
    print(f"the {leaves} tasks to do, by state:" if stats["leaves_by_state"] else "no tasks to do yet")
    for state, n in stats["leaves_by_state"].items():
        print(f"  {state:<12} {n}")
