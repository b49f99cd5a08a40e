"""``python -m stress.bench log``: the figures it reports are consistent with themselves and with
what was asked (no timing is asserted).

One short run (2 repetitions, so that min, median and max are three different statements) is
checked for: exit status 0 (every correctness check of what was measured passed); the run's
``_meta`` and every figure's repetitions matching the command line; min <= median <= max (and,
over two repetitions, median = their mean); units, directions and peer flags; each ratio being
our value over the peer's measured in the same repetition; and the printed tables and summary
lines saying the same as the JSON. The pairing of repetitions in a ratio (median of per-repetition
ratios, not a ratio of medians) is checked on made-up numbers, where it is exact.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from stress.bench.figures import HIGHER, readings, spread
from stress.bench.log_bench import EVENTLOG, MANY, SQLITE, Results, figures_json
from stress.bench.stats import Figure, LatencySummary

REPEAT, DURATION = 2, 0.2
RATES = {  # figure label -> (unit, measures a peer)
    "raw disk: write+fdatasync": ("steps/s", True),
    "EventLog durable step": ("steps/s", False),
    "SQLite WAL FULL step": ("steps/s", True),
    "eventsourcing SQLite step": ("steps/s", True),
    "AppendLock (blocking flock)": ("acq/s", False),
    "filelock.FileLock (50 ms poll)": ("acq/s", True),
    "AppendLock, 0.2 ms sleep after": ("acq/s", False),
    "filelock.FileLock, 0.2 ms sleep after": ("acq/s", True),
}
STEP_PEERS = {"sqlite": ("SQLite WAL FULL step", "SQLite"), "eventsourcing": ("eventsourcing SQLite step", "eventsourcing")}
LOCK_PEERS = {"AppendLock (blocking flock)": "filelock.FileLock (50 ms poll)",
              "AppendLock, 0.2 ms sleep after": "filelock.FileLock, 0.2 ms sleep after"}


def close(a: float, b: float, tol: float = 1e-3) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "stress.bench", "log", "--quick", "--repeat", str(REPEAT), "--duration", str(DURATION),
         "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, json.loads(out.read_text())


@pytest.fixture(scope="module")
def figures(bench):
    return bench[1]["log"]


@pytest.fixture(scope="module")
def with_eventsourcing(bench) -> bool:
    return bench[1]["_meta"]["peers"]["eventsourcing"]


def rate_keys(with_es: bool) -> set[str]:
    steps = [label for label, (unit, _) in RATES.items() if unit == "steps/s" and label != "raw disk: write+fdatasync"
             and (with_es or label != "eventsourcing SQLite step")]
    return ({"raw disk: write+fdatasync @1"} | {f"{label} @{procs}" for label in steps for procs in (1, MANY)}
            | {f"{label} @{MANY}" for label, (unit, _) in RATES.items() if unit == "acq/s"})


def paired(ours: dict, theirs: dict) -> list[tuple[float, float]]:
    """The two ways two repetitions' values can pair up: (ratio in one, ratio in the other), sorted."""
    a, b = (ours["min"], ours["max"]), (theirs["min"], theirs["max"])
    return [tuple(sorted((a[0] / b[0], a[1] / b[1]))), tuple(sorted((a[0] / b[1], a[1] / b[0])))]


def test_the_run_reports_what_was_asked(bench, figures, with_eventsourcing):
    stdout, results = bench
    meta = results["_meta"]
    assert (meta["benchmarks"], meta["repeat"], meta["duration"], meta["quick"]) == (["log"], REPEAT, DURATION, True)
    assert f"stress.bench log: {REPEAT} repetition(s) of {DURATION:g} s windows" in stdout
    assert "CORRECTNESS FAILURES" not in stdout
    ratio_keys = {f"ratio EventLog/{name} @{procs}" for peer, (_, name) in STEP_PEERS.items()
                  if with_eventsourcing or peer != "eventsourcing" for procs in (1, MANY)}
    assert set(figures) == rate_keys(with_eventsourcing) | ratio_keys
    for key in rate_keys(with_eventsourcing):
        assert figures[key]["repetitions"] == REPEAT, key


def test_every_rate_has_a_spread_a_unit_a_direction_and_says_whether_it_is_a_peer(figures):
    for key, entry in figures.items():
        if key.startswith("ratio "):
            continue
        label, procs = key.rsplit(" @", 1)
        unit, is_peer = RATES[label]
        assert (entry["unit"], entry["better"], entry["procs"]) == (unit, HIGHER, int(procs)), key
        assert entry.get("peer", False) is is_peer, key
        assert 0 < entry["min"] <= entry["median"] <= entry["max"], key
        assert close(entry["median"], (entry["min"] + entry["max"]) / 2), key  # two repetitions: their mean
        assert 0 <= entry["p50_ms"] <= entry["p99_ms"] <= entry["max_ms"], key


def test_the_regression_check_reads_every_rate_and_its_peer_ratios(figures, with_eventsourcing):
    read = readings({"log": figures})
    assert set(read) == {f"log: {key}" for key in rate_keys(with_eventsourcing)}  # ratio entries are information
    for key in (f"{EVENTLOG} @1", f"{EVENTLOG} @{MANY}"):
        expected = {"sqlite", "eventsourcing"} if with_eventsourcing else {"sqlite"}
        assert set(read[f"log: {key}"].ratios) == expected
    for label in LOCK_PEERS:
        assert set(read[f"log: {label} @{MANY}"].ratios) == {"filelock"}


@pytest.mark.parametrize("procs", [1, MANY])
def test_step_ratios_are_ours_over_the_peers_in_the_same_repetitions(figures, with_eventsourcing, procs):
    ours = figures[f"{EVENTLOG} @{procs}"]
    for peer, (label, name) in STEP_PEERS.items():
        if peer == "eventsourcing" and not with_eventsourcing:
            assert f"ratio_{peer}" not in ours
            continue
        ratio = figures[f"ratio EventLog/{name} @{procs}"]
        assert ratio["unit"] == "x" and "better" not in ratio
        assert ours[f"ratio_{peer}"] == ratio["median"]
        assert ratio["min"] <= ratio["median"] <= ratio["max"]
        assert close(ratio["median"], (ratio["min"] + ratio["max"]) / 2)
        low, high = ratio["min"], ratio["max"]
        assert any(close(low, a) and close(high, b) for a, b in paired(ours, figures[f"{label} @{procs}"])), \
            (peer, procs, ratio)


def test_lock_ratios_are_ours_over_filelock_in_the_same_repetitions(figures):
    for ours_label, theirs_label in LOCK_PEERS.items():
        ours, theirs = figures[f"{ours_label} @{MANY}"], figures[f"{theirs_label} @{MANY}"]
        assert "ratio_filelock" not in theirs
        means = [(a + b) / 2 for a, b in paired(ours, theirs)]
        assert any(close(ours["ratio_filelock"], m) for m in means), (ours_label, ours["ratio_filelock"], means)


def test_the_printed_report_says_what_the_json_says(bench, figures, with_eventsourcing):
    stdout, _ = bench
    rows = re.findall(r"^(\S.*?\S)\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s", stdout, re.MULTILINE)
    printed = {f"{label} @{procs}": (median, low, high) for label, procs, median, low, high in rows}
    assert set(printed) == rate_keys(with_eventsourcing)
    for key, (median, low, high) in printed.items():
        entry = figures[key]
        assert (median, low, high) == tuple(f"{entry[k]:,.0f}" for k in ("median", "min", "max")), key
    for peer, (_, name) in STEP_PEERS.items():
        for procs in (1, MANY):
            line = re.search(rf"^ratio EventLog/{name} @{procs} procs?: ([\d.]+)x \(reps ([\d.]+)\.\.([\d.]+)x\)",
                             stdout, re.MULTILINE)
            if peer == "eventsourcing" and not with_eventsourcing:
                assert line is None
                continue
            assert line is not None, (peer, procs)
            ratio = figures[f"ratio EventLog/{name} @{procs}"]
            shown = [float(x) for x in line.groups()]
            assert all(abs(s - ratio[k]) <= 0.0051 for s, k in zip(shown, ("median", "min", "max"), strict=True))
    ceiling = re.search(r"^EventLog @1 proc reaches (\d+)% of the raw write\+fdatasync ceiling", stdout, re.MULTILINE)
    means = [(a + b) / 2 for a, b in paired(figures[f"{EVENTLOG} @1"], figures["raw disk: write+fdatasync @1"])]
    assert ceiling is not None and any(abs(int(ceiling.group(1)) / 100 - m) <= 0.0051 for m in means)


# -- the arithmetic, on made-up numbers --------------------------------------------------
def test_a_ratio_is_the_median_of_the_per_repetition_ratios_not_a_ratio_of_medians():
    results = Results()
    latency = LatencySummary(1.0, 2.0, 3.0, 10)
    ours, theirs = Figure(EVENTLOG, MANY, "steps/s"), Figure(SQLITE, MANY, "steps/s")
    for mine, peer in [(100.0, 100.0), (300.0, 100.0), (200.0, 400.0)]:  # per repetition: 1, 3, 0.5
        ours.add(mine, latency)
        theirs.add(peer, latency)
    results.figures = {ours.key: ours, theirs.key: theirs}
    out = figures_json(results)
    assert out[ours.key]["ratio_sqlite"] == 1.0  # (the ratio of the medians would be 200 / 100 = 2)
    assert {k: out[f"ratio EventLog/SQLite @{MANY}"][k] for k in ("median", "min", "max", "unit")} == \
        {"median": 1.0, "min": 0.5, "max": 3.0, "unit": "x"}
    assert (out[ours.key]["median"], out[ours.key]["min"], out[ours.key]["max"]) == (200.0, 100.0, 300.0)
    assert out[ours.key]["repetitions"] == 3
    assert out[theirs.key]["peer"] is True and "peer" not in out[ours.key]


def test_spread_drops_missing_values_and_counts_what_it_kept():
    entry = spread([3.0, float("nan"), 1.0, None, 2.0, 10.0], "ms", "lower", extra=1)
    assert entry == {"median": 2.5, "min": 1.0, "max": 10.0, "repetitions": 4, "unit": "ms", "better": "lower",
                     "extra": 1}
    empty = spread([float("nan")], "ms", None)
    assert (empty["median"], empty["min"], empty["max"], empty["repetitions"]) == (None, None, None, 0)
    assert "better" not in empty
