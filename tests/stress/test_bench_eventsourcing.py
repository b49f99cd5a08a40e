"""``python -m stress.bench eventsourcing --quick``: the figures are consistent with themselves and
with what was asked (no timing is asserted).

One short run (2 repetitions, so that min, median and max say different things) on the file
store (and on PostgreSQL when the session has a server: the bench is pointed at it through
``$PLANNER_POSTGRES``). Checked: exit status 0 (every insert's notifications counted back);
each scenario's figure for ours and for the peer, with 2 repetitions, min <= median <= max
(median = their mean), unit, direction, peer flag; each ratio the median of the two
per-repetition ratios listed, each of which is ours over the peer's from the same
repetition (within the bounds the min and max allow); and the printed table and target line
saying the same as the JSON.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("eventsourcing")

from stress.bench.eventsourcing_bench import SCENARIOS  # noqa: E402

from .. import pg_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REPEAT = 2
PEERS = {"file": "sqlite", "postgresql": "postgres"}


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-3)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    env = dict(os.environ)
    try:
        env["PLANNER_POSTGRES"] = pg_server.server_url()  # (the session's cluster: no second one)
    except BaseException:  # noqa: BLE001 - pytest's skip/fail outcome: run the file pair only
        env.pop("PLANNER_POSTGRES", None)
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run([sys.executable, "-m", "stress.bench", "eventsourcing", "--quick", "--repeat", str(REPEAT),
                           "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads(out.read_text())["eventsourcing"]


def backends(figures: dict) -> list[str]:
    return [b for b in PEERS if f"insert, {b}" in figures]


def test_every_scenario_has_ours_and_the_peers_figure(bench):
    _, figures = bench
    assert "file" in backends(figures)
    expected = {f"{s}, {b}{suffix}" for b in backends(figures) for s in SCENARIOS
                for suffix in ("", f", peer {PEERS[b]}")}
    assert set(figures) == expected
    for name, entry in figures.items():
        unit = "events/s" if name.startswith("concurrent throughput") else "inserts/s"
        assert (entry["unit"], entry["better"], entry["repetitions"]) == (unit, "higher", REPEAT), name
        assert entry.get("peer", False) is (", peer " in name), name
        assert 0 < entry["min"] <= entry["median"] <= entry["max"], name
        assert close(entry["median"], (entry["min"] + entry["max"]) / 2), name


def test_ratios_are_ours_over_the_peers_in_the_same_repetitions(bench):
    _, figures = bench
    for b in backends(figures):
        for s in SCENARIOS:
            ours, theirs, peer = figures[f"{s}, {b}"], figures[f"{s}, {b}, peer {PEERS[b]}"], PEERS[b]
            ratios = ours["ratios"]
            assert len(ratios) == REPEAT
            assert close(ours[f"ratio_{peer}"], sum(ratios) / REPEAT)  # (the median of two)
            for r in ratios:  # each: one of ours over one of theirs
                assert ours["min"] / theirs["max"] * 0.999 <= r <= ours["max"] / theirs["min"] * 1.001, (s, b, r)


def test_the_table_and_the_target_say_what_the_json_says(bench):
    stdout, figures = bench
    for b in backends(figures):
        for s in SCENARIOS:
            ratio = figures[f"{s}, {b}"][f"ratio_{PEERS[b]}"]
            assert any(line.startswith(s) and f" {b} " in line and f"{ratio:.2f}x" in line
                       for line in stdout.splitlines()), (s, b)
    got = figures["concurrent throughput, file"]["ratio_sqlite"]
    verdict = "met" if got >= 1 else "MISSED"
    assert f"target: concurrent throughput on the file store >= 1x eventsourcing.sqlite: {verdict} ({got:.2f}x)" \
        in stdout
