"""``python -m stress.bench mcp``: a tool call through ``planner mcp`` beside the CLI doing the same.

One project of 10,000 tasks (``generate_complex_project(10_000, 5, 0.3)``, seed 0;
``--quick``: 1,000), imported into a temporary home and snapshotted (not timed). For
each mode, embedded (``--no-server``: each process on the files) and served (a
``planner serve`` on the home), and each repetition (``--repeat``):

* one MCP session: the official client (``mcp.ClientSession`` over ``stdio_client``)
  starting ``python -m planner ... mcp --agent bench-mcp`` (every capability the tasks
  need, capacity 10,000), initialised and warmed up (untimed);
* then, interleaved: **ready** (the ``ready`` tool, ``limit`` 20) timed per call from the
  client's ``call_tool`` to its parsed result, beside the CLI process
  ``planner ready --json --limit 20`` (spawn to exit); and **claim** (the ``claim_task``
  tool: a claim and the start, two commands) beside ``planner claim bench-cli --json``
  (a claim alone) as a process.

Figures (ms, lower is better; medians over the repetitions of each repetition's median,
min..max beside): ``mcp <tool>, <mode>`` with ``ratio_cli`` (the MCP call over the CLI
process in the same repetition), and ``cli <command>, <mode>`` marked as the peer; and
the MCP session's start (spawn to initialised), information. Target: the MCP call's median
under 5 ms for ``ready`` and ``claim_task``; a miss is reported, not a failure.

Failures: a tool error, a ready list other than the CLI's, a claim that got no task, a task
leased while held (the MCP agent's tasks go back to pending when its session ends), tokens
that do not grow, or a CLI command that exits non-zero.
Children run with a private bytecode cache (:func:`stress.serving.bytecode_cache`), as an
installed package would.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

from stress.bench import BenchResult, RunOptions
from stress.bench.figures import LOWER, spread
from stress.bench.stats import median
from stress.serving import REPO, bytecode_cache, start_server

PROJECT = "bench"
SIZE, QUICK_SIZE = 10_000, 1_000
MAX_DEPTH, DENSITY, SEED = 5, 0.3, 0
READY_LIMIT = 20
MCP_CALLS, QUICK_MCP_CALLS = 200, 20  # per tool and repetition
CLI_RUNS, QUICK_CLI_RUNS = 15, 3
WARMUP = 5
TARGET_MS = 5.0
MCP_AGENT, CLI_AGENT = "bench-mcp", "bench-cli"
MODES = ("embedded", "served")
TOOLS = {"ready": "planner ready --json --limit 20", "claim_task": "planner claim --json"}


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build_home(home: Path, size: int) -> list[str]:
    """The project, imported and snapshotted, in working mode, with the CLI's agent registered
    (capacity 10,000); returns every capability the tasks need."""
    from fixtures.generators import generate_complex_project
    from planner.plans.importing import import_plan, read_fixture
    from planner.service.service import Service

    data = generate_complex_project(size, MAX_DEPTH, DENSITY, SEED).to_dict()
    with Service.open(home, PROJECT, create=True, durability="batch") as s:
        import_plan(s.planner, read_fixture(data, "generated.json"))
        s.set_mode("working")
        caps = s.capabilities()
        s.register_agent(CLI_AGENT, capabilities=caps, capacity=10_000)
        s.snapshot()
    return caps


class Samples:
    """Per repetition, per (mode, figure): the call times in seconds."""

    def __init__(self) -> None:
        self.reps: list[dict[tuple[str, str], list[float]]] = []

    def new_rep(self) -> None:
        self.reps.append({})

    def add(self, mode: str, figure: str, seconds: float) -> None:
        self.reps[-1].setdefault((mode, figure), []).append(seconds)

    def medians_ms(self, mode: str, figure: str) -> list[float]:
        return [median(rep[(mode, figure)]) * 1e3 for rep in self.reps if (mode, figure) in rep]


class Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.held: dict[str, str] = {}  # task -> who holds it ("mcp" until its session ends, "cli")
        self.last_token = 0

    def check(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.failures.append(problem)
        return ok

    def lease(self, where: str, who: str, task: str | None, token: int | None) -> None:
        """``who`` got ``task`` under ``token``: a task nobody holds, a token above every earlier one."""
        if not self.check(task is not None and token is not None, f"{where}: the claim got no task"):
            return
        self.check(task not in self.held, f"{where}: {task} was leased again while {self.held.get(task)} held it")
        self.check(token > self.last_token, f"{where}: token {token} after {self.last_token}")
        self.held[task] = who
        self.last_token = max(self.last_token, token)

    def session_ended(self) -> None:
        """The MCP session ended: its agent was deregistered, so its tasks went back to pending."""
        self.held = {task: who for task, who in self.held.items() if who != "mcp"}


def _cli(env: dict[str, str], home: Path, mode: str, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    argv = [sys.executable, "-m", "planner", "--home", str(home), "--project", PROJECT,
            *(["--no-server"] if mode == "embedded" else []), *args]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    return time.perf_counter() - start, proc


async def _session(stack: AsyncExitStack, env: dict[str, str], home: Path, mode: str, caps: list[str]) -> Any:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    args = ["-m", "planner", "--home", str(home), "--project", PROJECT, *(["--no-server"] if mode == "embedded"
                                                                           else []),
            "mcp", "--agent", MCP_AGENT, "--capacity", "10000", *(["--capabilities", ",".join(caps)] if caps else [])]
    params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(REPO))
    read, write = await stack.enter_async_context(stdio_client(params))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()
    return session


async def _call(session: Any, name: str, args: dict[str, Any], checks: Checks, where: str) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await session.call_tool(name, args)
    elapsed = time.perf_counter() - start
    if not checks.check(not result.is_error, f"{where}: {name} refused: {result.content[0].text if result.content else ''}"):
        return elapsed, None
    return elapsed, result.structured_content


async def measure_mode(env: dict[str, str], home: Path, mode: str, caps: list[str], calls: int, runs: int,
                       samples: Samples, checks: Checks) -> None:
    """One repetition in one mode (see the module docstring)."""
    where = f"[{mode}]"
    async with AsyncExitStack() as stack:
        start = time.perf_counter()
        session = await _session(stack, env, home, mode, caps)
        samples.add(mode, "session start", time.perf_counter() - start)
        for _ in range(WARMUP):
            await _call(session, "ready", {"limit": READY_LIMIT}, checks, where)
            await _call(session, "status", {}, checks, where)
        _, ours = await _call(session, "ready", {"limit": READY_LIMIT}, checks, where)
        _, proc = _cli(env, home, mode, "ready", "--json", "--limit", str(READY_LIMIT))
        if checks.check(proc.returncode == 0, f"{where} planner ready exited {proc.returncode}: {proc.stderr[-300:]}"):
            checks.check(ours is not None and ours["result"] == json.loads(proc.stdout),
                         f"{where}: the ready tool lists other tasks than planner ready --json")
        per_run = max(calls // runs, 1)
        for run in range(runs):
            for _ in range(per_run):
                elapsed, _ = await _call(session, "ready", {"limit": READY_LIMIT}, checks, where)
                samples.add(mode, "mcp ready", elapsed)
            for _ in range(per_run):
                elapsed, got = await _call(session, "claim_task", {}, checks, where)
                samples.add(mode, "mcp claim_task", elapsed)
                if got is not None:
                    checks.lease(f"{where} claim_task", "mcp", got.get("task", {}).get("id"), got.get("token"))
            elapsed, proc = _cli(env, home, mode, "ready", "--json", "--limit", str(READY_LIMIT))
            samples.add(mode, "cli ready", elapsed)
            checks.check(proc.returncode == 0, f"{where} planner ready exited {proc.returncode}: {proc.stderr[-300:]}")
            elapsed, proc = _cli(env, home, mode, "claim", CLI_AGENT, "--json")
            samples.add(mode, "cli claim_task", elapsed)
            if checks.check(proc.returncode == 0, f"{where} planner claim exited {proc.returncode}: "
                                                  f"{proc.stderr[-300:]}"):
                lease = json.loads(proc.stdout) or {}
                checks.lease(f"{where} planner claim", "cli", lease.get("task"), lease.get("token"))
            _progress(f"{where} run {run + 1}/{runs}")
    checks.session_ended()


def run(options: RunOptions, out: TextIO) -> BenchResult:
    if options.quick:
        return measure(QUICK_SIZE, options.repeat, QUICK_MCP_CALLS, QUICK_CLI_RUNS, out)
    return measure(SIZE, options.repeat, MCP_CALLS, CLI_RUNS, out)


def measure(size: int, repeat: int, calls: int, runs: int, out: TextIO) -> BenchResult:
    """``repeat`` repetitions on a project of ``size`` tasks: ``calls`` MCP calls per tool beside ``runs``
    CLI processes per command, in each mode; the table goes to ``out``."""
    samples, checks = Samples(), Checks()
    root = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    try:
        home = root / "home"
        _progress(f"importing {size:,} tasks")
        caps = build_home(home, size)
        with bytecode_cache() as env:
            env = {k: v for k, v in env.items() if k != "PLANNER_NO_SERVER"}
            for rep in range(repeat):
                samples.new_rep()
                for mode in MODES if rep % 2 == 0 else MODES[::-1]:
                    _progress(f"[rep {rep + 1}/{repeat}] {mode}")
                    server = start_server(home, env=env) if mode == "served" else None
                    try:
                        asyncio.run(measure_mode(env, home, mode, caps, calls, runs, samples, checks))
                    except BaseException:
                        if server is not None:
                            server.kill()
                        raise
                    if server is not None:
                        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = BenchResult(figures=figures(samples), failures=checks.failures)
    print_report(result.figures, size, repeat, calls, runs, out)
    return result


def _ratios(samples: Samples, mode: str, tool: str) -> list[float]:
    return [median(rep[(mode, f"mcp {tool}")]) / median(rep[(mode, f"cli {tool}")]) for rep in samples.reps
            if (mode, f"mcp {tool}") in rep and (mode, f"cli {tool}") in rep]


def figures(samples: Samples) -> dict[str, dict[str, Any]]:
    """The JSON entries (see the module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        for tool, command in TOOLS.items():
            ratios = _ratios(samples, mode, tool)
            out[f"mcp {tool}, {mode}"] = spread(samples.medians_ms(mode, f"mcp {tool}"), "ms", LOWER,
                                                target=f"< {TARGET_MS:g}",
                                                **({"ratio_cli": round(median(ratios), 4)} if ratios else {}))
            out[f"cli {command}, {mode}"] = spread(samples.medians_ms(mode, f"cli {tool}"), "ms", LOWER, peer=True)
        out[f"mcp session start, {mode}"] = spread(samples.medians_ms(mode, "session start"), "ms", None)
    return out


def print_report(figs: dict[str, dict[str, Any]], size: int, repeat: int, calls: int, runs: int, out: TextIO) -> None:
    print(f"\nstress.bench mcp: {size:,} tasks, {repeat} repetition(s): {calls} calls per tool through one MCP "
          f"session (official client, stdio) beside {runs} CLI processes; medians (min..max over repetitions)",
          file=out)
    print(f"{'':<24} {'MCP tool call ms':>24} {'CLI process ms':>24} {'MCP/CLI':>8}  target", file=out)
    for mode in MODES:
        for tool, command in TOOLS.items():
            ours, cli = figs[f"mcp {tool}, {mode}"], figs[f"cli {command}, {mode}"]
            met = "met" if ours["median"] is not None and ours["median"] < TARGET_MS else "MISSED"
            print(f"{tool + ', ' + mode:<24} {_cell(ours):>24} {_cell(cli):>24} "
                  f"{ours.get('ratio_cli', float('nan')):>7.3f}x  < {TARGET_MS:g} ms: {met}", file=out)
        start = figs[f"mcp session start, {mode}"]
        print(f"{'session start, ' + mode:<24} {_cell(start):>24}", file=out)
    print("(claim_task claims and starts the task: two commands; planner claim only claims)", file=out)


def _cell(entry: dict[str, Any]) -> str:
    if entry["median"] is None:
        return "-"
    return f"{entry['median']:.2f} ({entry['min']:.2f}..{entry['max']:.2f})"
