"""Command line: ``python -m stress.bench NAME|all [--quick] [--repeat N] [--duration S] [--json FILE] [--baseline FILE]``.

::

    python -m stress.bench log                     # one benchmark (one sub-command per entry in BENCHMARKS)
    python -m stress.bench all --quick --json now.json
    python -m stress.bench all --quick --baseline benchmarks/baseline.json --threshold 0.10
    python -m stress.bench compare now.json benchmarks/baseline.json   # two results files, nothing run
    python -m stress.bench merge run1.json run2.json run3.json --json benchmarks/baseline.json

``all`` runs every registered benchmark, one after the other, in registry
order; one that crashes is reported as a correctness failure and the others
still run. ``--json FILE`` writes the results file:
``{"_meta": {...}, "<benchmark>": {"<figure>": entry, ...}, ...}`` (entries:
see :mod:`stress.bench.figures`). ``--baseline FILE`` compares this run's
figures with a results file written earlier (only the benchmarks that ran),
prints the regressions and improvements beyond ``--threshold`` (default 10%),
and fails the run on a regression; ``--scope`` picks what is compared (see
:mod:`stress.bench.regress`). With ``--confirm``, the benchmarks that showed
a regression run once more, and only a value that regressed both times fails
the run (on a noisy machine a burst of load can slow one side of a ratio). ``merge`` makes one baseline of several runs,
keeping the noise each value showed, so that the check tolerates it.

Exit status: 0 when every correctness check passed and nothing regressed;
1 when a correctness check failed (or a benchmark crashed); 2 on bad usage
or an unreadable results file; 3 when a figure regressed beyond the
threshold (and every correctness check passed). Performance targets that
are missed are reported but do not fail the run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from stress.bench import BENCHMARKS, BenchResult, RunOptions
from stress.bench.regress import DEFAULT_THRESHOLD, SCOPES, compare, format_comparison, merge
from stress.peers import EVENTSOURCING, installed

DEFAULT_REPEAT, QUICK_REPEAT = 3, 1
DEFAULT_DURATION_S, QUICK_DURATION_S = 5.0, 1.0
ALL, COMPARE, MERGE = "all", "compare", "merge"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REGRESSED = 0, 1, 2, 3


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


def _check_options() -> argparse.ArgumentParser:
    check = argparse.ArgumentParser(add_help=False)
    check.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="T",
                       help=f"a value regresses when worse than the worst the baseline saw by more than T "
                            f"(default {DEFAULT_THRESHOLD:g}, i.e. {DEFAULT_THRESHOLD * 100:g}%%)")
    check.add_argument("--scope", choices=SCOPES, default="robust",
                       help="what is compared: robust (default: ratios against peers where a figure has them, "
                            "else its median), ratios (machine-independent values only), all")
    check.add_argument("--all-changes", action="store_true", help="list every value compared, not only those beyond T")
    return check


def _run_options(check: argparse.ArgumentParser) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, parents=[check])
    common.add_argument("--quick", action="store_true", help="short runs for smoke tests (1 repetition of 1 s windows)")
    common.add_argument("--repeat", type=int, metavar="N", help="repetitions per figure (default 3, --quick 1)")
    common.add_argument("--duration", type=float, metavar="S", help="seconds per measured window (default 5, --quick 1)")
    common.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    common.add_argument("--baseline", type=Path, metavar="FILE",
                        help="compare the figures with FILE (written by --json); exit 3 on a regression")
    common.add_argument("--confirm", action="store_true",
                        help="with --baseline: run the benchmarks that regressed again; fail only on values "
                             "that regressed both times")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stress.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    check = _check_options()
    common = _run_options(check)
    for bench in BENCHMARKS.values():
        sub.add_parser(bench.name, parents=[common], help=bench.summary, description=bench.summary)
    summary = f"every benchmark, in this order: {', '.join(BENCHMARKS)}"
    sub.add_parser(ALL, parents=[common], help=summary, description=summary)
    cmp = sub.add_parser(COMPARE, parents=[check], help="compare two results files (nothing is run)",
                         description="Compare two results files written by --json; exit 3 on a regression.")
    cmp.add_argument("current", type=Path, help="this run's results file")
    cmp.add_argument("baseline", type=Path, help="the baseline results file")
    mrg = sub.add_parser(MERGE, help="merge several results files into one baseline (nothing is run)",
                         description="Merge results files of the same benchmarks into one baseline: medians of "
                                     "the runs' medians, and the range each value took.")
    mrg.add_argument("runs", type=Path, nargs="+", help="results files written by --json")
    mrg.add_argument("--json", type=Path, metavar="FILE", required=True, help="where to write the merged file")
    return parser


def _options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> RunOptions:
    repeat = args.repeat if args.repeat is not None else (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    duration = args.duration if args.duration is not None else (QUICK_DURATION_S if args.quick else DEFAULT_DURATION_S)
    if repeat < 1 or duration <= 0:
        parser.error("--repeat must be >= 1 and --duration > 0")
    if args.threshold < 0:
        parser.error("--threshold must be >= 0")
    return RunOptions(quick=args.quick, repeat=repeat, duration=duration)


def read_results(path: Path) -> dict[str, Any]:
    """A results file, or :class:`UsageError` saying why it cannot be used."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read results file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"results file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"results file {path} holds a {type(data).__name__}, expected an object by benchmark")
    return data


def run_benchmarks(names: list[str], options: RunOptions) -> tuple[dict[str, Any], list[str]]:
    """Run ``names`` in order: the results file's content (with ``_meta``) and every failure."""
    results: dict[str, Any] = {}
    failures: list[str] = []
    seconds: dict[str, float] = {}
    for name in names:
        if len(names) > 1:
            print(f"\n=== stress.bench {name} ===", flush=True)
            print(f"=== stress.bench {name} ===", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            result: BenchResult = BENCHMARKS[name].load().run(options, sys.stdout)
        except Exception:  # noqa: BLE001 - one benchmark crashing must not lose the others' figures
            text = traceback.format_exc()
            print(text, file=sys.stderr)
            result = BenchResult(failures=[f"crashed: {text.strip().splitlines()[-1]}"])
        seconds[name] = round(time.monotonic() - started, 1)
        results[name] = result.figures
        failures += [f"{name}: {failure}" for failure in result.failures]
    meta = {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "benchmarks": names, "quick": options.quick, "repeat": options.repeat, "duration": options.duration,
        "seconds": seconds, "cpus": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "peers": {EVENTSOURCING: installed(EVENTSOURCING)},
    }
    if len(names) > 1:
        summary = ", ".join(f"{name} {s:g} s" for name, s in seconds.items())
        print(f"\nstress.bench {ALL}: {summary}; {sum(seconds.values()):.0f} s in all", flush=True)
    return {"_meta": meta} | results, failures


def check_against(results: dict[str, Any], baseline: dict[str, Any], args: argparse.Namespace) -> set[str]:
    """Print the comparison of ``results`` with the part of ``baseline`` for the benchmarks that
    ran; return the keys of the values that regressed."""
    ran = {name for name in results if not name.startswith("_")}
    cmp = compare(results, {k: v for k, v in baseline.items() if k in ran}, args.threshold, args.scope)
    print("\n" + format_comparison(cmp, everything=args.all_changes), flush=True)
    return {c.key for c in cmp.regressions}


def confirm(regressed: set[str], baseline: dict[str, Any], options: RunOptions,
            args: argparse.Namespace) -> tuple[set[str], list[str]]:
    """Run the benchmarks behind ``regressed`` again and compare once more: the values that
    regressed both times, and the second run's correctness failures."""
    names = [name for name in BENCHMARKS if any(key.startswith(f"{name}: ") for key in regressed)]
    print(f"\n=== confirming {len(regressed)} regression(s): running {', '.join(names)} again ===", flush=True)
    again, failures = run_benchmarks(names, options)
    confirmed = regressed & check_against(again, baseline, args)
    print(f"\n{len(confirmed)} of {len(regressed)} regression(s) confirmed by the second run"
          + (": " + "; ".join(sorted(confirmed)) if confirmed else ""), flush=True)
    return confirmed, failures


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.benchmark == COMPARE:
            if args.threshold < 0:
                parser.error("--threshold must be >= 0")
            current, baseline = read_results(args.current), read_results(args.baseline)
            return EXIT_REGRESSED if check_against(current, baseline, args) else EXIT_OK
        if args.benchmark == MERGE:
            merged = merge([read_results(path) for path in args.runs])
            args.json.write_text(json.dumps(merged, indent=2) + "\n")
            return EXIT_OK
        options = _options(args, parser)
        baseline = read_results(args.baseline) if args.baseline is not None else None  # before the runs
        names = list(BENCHMARKS) if args.benchmark == ALL else [args.benchmark]
        results, failures = run_benchmarks(names, options)
        if args.json is not None:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    except UsageError as exc:
        print(f"stress.bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    regressed = check_against(results, baseline, args) if baseline is not None else set()
    if regressed and args.confirm and not failures:
        regressed, more = confirm(regressed, baseline, options, args)
        failures += more
    if failures:
        if len(names) > 1:
            print(f"\nCORRECTNESS FAILURES ({len(failures)}):", *(f"  {f}" for f in failures), sep="\n")
        return EXIT_FAILED
    return EXIT_REGRESSED if regressed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
