"""Where a served claim's time goes: ``planner serve`` sampled by py-spy under the agents benchmark's load.

::

    .venv/bin/pip install py-spy
    python -m stress.profile_server [--procs 20] [--duration 5] [--tasks 6000] [--rate 250] [--idle] [--top 25]
                                    [--store postgresql://...|postgresql]

One window of :mod:`stress.bench.agents_bench`'s served claim cycles (``procs``
worker processes: claim, in_progress, completed, each through the server), on a
fresh home of ``tasks`` independent tasks, while ``py-spy record --pid SERVER
--format raw --threads --nonblocking`` samples the server at ``rate`` Hz (only the
samples where a thread runs on a CPU, unless ``--idle``). Prints the window's
figures (claims/s, p50/p99, the server's CPU use), then from the samples: the
share per thread (the accept loop, the connection threads, the writer), the
functions with the most samples of their own ("self") and on the stack
("total"), and the share per source file, each as a percentage of all samples.
The window's log is checked as the benchmark checks it. py-spy's raw output is
kept with ``--keep FILE``.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from stress.bench import agents_bench as bench
from stress.bench.stats import LatencySummary
from stress.serving import bytecode_cache, start_server

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def summarize(raw: str, top: int = 25) -> str:
    """A report of py-spy's raw (collapsed) stacks: ``thread;frame;frame... count`` per line."""
    per_thread: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    files: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread, frames = (frames[0], frames[1:]) if frames and frames[0].startswith(("thread", "process")) \
            else ("?", frames)
        samples += n
        per_thread[_thread_name(thread, frames)] += n
        if not frames:
            continue
        leaf = _short(frames[-1])
        own[leaf] += n
        files[_file(frames[-1])] += n
        for name in {_short(f) for f in frames}:
            total[name] += n
    if not samples:
        return "no samples (is py-spy allowed to read the server's memory?)"

    def table(title: str, counter: collections.Counter[str], limit: int) -> list[str]:
        rows = [f"{title}:"]
        rows += [f"  {100 * n / samples:5.1f}%  {name}" for name, n in counter.most_common(limit)]
        return rows

    lines = [f"{samples:,} samples"]
    lines += table("by thread (the thread's outermost function)", per_thread, 10)
    lines += table("self (the function running)", own, top)
    lines += table("total (the function on the stack)", total, top)
    lines += table("self, by file", files, 15)
    return "\n".join(lines)


def _short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    return f"{m.group('func')} ({_trim(path)})"


def _file(frame: str) -> str:
    m = FRAME.match(frame)
    return _trim(m.group("file")) if m else frame


def _trim(path: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1] if marker == "/site-packages/" else "stdlib:" + path.rsplit("/", 1)[-1]
    for package in ("planner/", "eventstore/", "projections/", "stress/"):
        at = path.find("/" + package)
        if at >= 0:
            return path[at + 1:]
    return path


def _thread_name(thread: str, frames: list[str]) -> str:
    outer = [_short(f) for f in frames[:6]]
    for name in outer[::-1]:
        if any(key in name for key in ("_write_loop", "_serve_connection", "serve_forever", "_read_rest")):
            return name
    return outer[0] if outer else thread


def _busy(before: Any, after: Any) -> float:
    """The share of the machine's CPU time that was not idle (or waiting on I/O) between two readings, in %."""
    spent = {field: getattr(after, field) - getattr(before, field) for field in after._fields}
    total = sum(spent.values())
    idle = spent.get("idle", 0.0) + spent.get("iowait", 0.0)
    return 100.0 * (total - idle) / total if total > 0 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.profile_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=bench.MANY)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--tasks", type=int, default=6000)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--idle", action="store_true", help="also count threads waiting (off a CPU)")
    parser.add_argument("--gil", action="store_true", help="only the thread holding the GIL (the Python CPU time)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw output in this file")
    parser.add_argument("--store", metavar="URL", help="serve the project from this store (e.g. postgresql://...; "
                                                      "'postgresql' alone: a throwaway server), not the home's files")
    args = parser.parse_args(argv)
    spy = py_spy()
    if spy is None:
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="profile-server-"))
    raw_path = args.keep or root / "py-spy.txt"
    try:
        target = _prepare(root, args)
        with bytecode_cache() as env:  # (as the benchmark runs its servers)
            if len(target) > 2:
                env["PLANNER_STORE"] = target[2]
            return _profile(args, spy, target, env, raw_path)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _prepare(root: Path, args: argparse.Namespace) -> tuple[str, ...]:
    """The window's project: in a home's files, or in ``--store`` (a fresh schema when it names
    the throwaway server); what the workers open: ``(home, project[, store])``."""
    store = None
    if args.store is not None:
        from stress import pgserver

        store = pgserver.with_schema(pgserver.start_throwaway() if args.store == "postgresql" else args.store)
    return bench.prepare_claims(root, bench.claim_project(args.tasks), bench.SERVED, store=store)[bench.SERVED]


def _profile(args: argparse.Namespace, spy: str, target: tuple[str, ...], env: dict[str, str], raw_path: Path) -> int:
    """The window with py-spy on its server; the report; exit status 0 when the log checks out."""
    server = start_server(target[0], env=env)
    command = [spy, "record", "--pid", str(server.pid), "--format", "raw", "--output", str(raw_path),
               "--rate", str(args.rate), "--threads", "--nonblocking", *(["--idle"] if args.idle else []),
               *(["--gil"] if args.gil else [])]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    machine_before = psutil.cpu_times()
    try:
        reports, cpu = bench.run_served_window(bench._mp_context(), target, args.procs, args.duration,
                                               server=server)
        machine = _busy(machine_before, psutil.cpu_times())
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        _, err = recorder.communicate(timeout=60)
        server.stop()
    problems = bench.check_claims(bench.SERVED, target, reports)
    rate, drained = bench.window_rate(reports, args.duration)
    latency = LatencySummary.of(x for r in reports for x in r.latencies)
    print(f"{bench.SERVED} @{args.procs} procs on {args.tasks:,} tasks: {rate:,.0f} claims/s, "
          f"p50 {latency.p50_ms:.2f} ms, p99 {latency.p99_ms:.2f} ms, {sum(len(r.done) for r in reports):,} cycles"
          f"{' (drained)' if drained else ''}; server CPU {cpu:.0f}% of one core; the machine's "
          f"{psutil.cpu_count()} CPUs {machine:.0f}% busy (from the workers' start to their reports); "
          f"log check: {problems if problems else 'ok'}")
    if not raw_path.exists():
        print(f"py-spy wrote nothing: {err.strip()[-1000:]}", file=sys.stderr)
        return 1
    which = "the thread holding the GIL (--gil)" if args.gil else \
        "every thread (--idle)" if args.idle else "threads on a CPU only (py-spy's guess, racy with --nonblocking)"
    print(f"py-spy record at {args.rate} Hz, {which}:")
    print(summarize(raw_path.read_text(), args.top))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
