"""Command line: ``python -m stress.bench NAME [--quick] [--repeat N] [--duration S] [--json FILE]``.

One sub-command per entry in :data:`stress.bench.BENCHMARKS`. Exit status: 0
when every correctness check passed, 1 when any failed, 2 on bad usage.
Performance targets that are missed are reported but do not fail the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stress.bench import BENCHMARKS, RunOptions

DEFAULT_REPEAT, QUICK_REPEAT = 3, 1
DEFAULT_DURATION_S, QUICK_DURATION_S = 5.0, 1.0


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quick", action="store_true", help="short runs for smoke tests (1 repetition of 1 s windows)")
    common.add_argument("--repeat", type=int, metavar="N", help="repetitions per figure (default 3, --quick 1)")
    common.add_argument("--duration", type=float, metavar="S", help="seconds per measured window (default 5, --quick 1)")
    common.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stress.bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    common = _common_options()
    for bench in BENCHMARKS.values():
        sub.add_parser(bench.name, parents=[common], help=bench.summary, description=bench.summary)
    return parser


def _options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> RunOptions:
    repeat = args.repeat if args.repeat is not None else (QUICK_REPEAT if args.quick else DEFAULT_REPEAT)
    duration = args.duration if args.duration is not None else (QUICK_DURATION_S if args.quick else DEFAULT_DURATION_S)
    if repeat < 1 or duration <= 0:
        parser.error("--repeat must be >= 1 and --duration > 0")
    return RunOptions(quick=args.quick, repeat=repeat, duration=duration)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = _options(args, parser)
    bench = BENCHMARKS[args.benchmark]
    result = bench.load().run(options, sys.stdout)
    if args.json is not None:
        args.json.write_text(json.dumps({bench.name: result.figures}, indent=2) + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
