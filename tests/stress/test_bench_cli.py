"""``python -m stress.bench``: ``all``, ``--json``, ``--baseline`` and its exit codes, ``compare``,
``merge`` (on fake benchmarks that measure nothing; no timing is asserted)."""

import json

import pytest

import stress.bench.__main__ as cli
from stress.bench import BENCHMARKS, Benchmark
from tests.stress import fake_benches


def fig(median, better="lower", **extra):
    return {"median": median, "min": median, "max": median, "unit": "ms", "better": better, **extra}


class FakeBenchmark(Benchmark):
    def load(self):
        return fake_benches._Module(self.name)


@pytest.fixture
def fakes(monkeypatch):
    """Two registered benchmarks, ``one`` and ``two``, whose output the test sets."""
    fake_benches.OUTPUT.clear()
    fake_benches.RAN.clear()
    fake_benches.OUTPUT.update({"one": ({"load": fig(10.0)}, []), "two": ({"rate": fig(100.0, "higher")}, [])})
    monkeypatch.setattr(cli, "BENCHMARKS", {n: FakeBenchmark(n, "unused", f"fake {n}") for n in ("one", "two")})
    return fake_benches.OUTPUT


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_real_registry_runs_in_all():
    assert list(BENCHMARKS) == ["log", "load", "agents", "transitions", "git", "soak", "mcp", "dashboard", "postgres",
                               "eventsourcing", "throughput"]
    assert "all" in cli.build_parser().format_help()


def test_all_runs_every_benchmark_in_order_and_writes_one_results_file(fakes, capsys, tmp_path):
    code, out, _ = run(capsys, "all", "--quick", "--json", str(tmp_path / "r.json"))
    assert code == 0 and fake_benches.RAN == ["one", "two"]
    assert "fake one: quick=True repeat=1" in out and "fake two" in out and "s in all" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["one"] == {"load": fig(10.0)} and data["two"] == {"rate": fig(100.0, "higher")}
    assert data["_meta"]["benchmarks"] == ["one", "two"] and data["_meta"]["quick"] is True


def test_a_correctness_failure_exits_1(fakes, capsys):
    fakes["two"] = ({}, ["the log lost a record"])
    code, out, _ = run(capsys, "all", "--quick")
    assert code == 1 and "two: the log lost a record" in out


def test_a_benchmark_that_crashes_fails_the_run_but_not_the_others(fakes, capsys, tmp_path):
    del fakes["one"]
    code, _, err = run(capsys, "all", "--json", str(tmp_path / "r.json"))
    assert code == 1 and fake_benches.RAN == ["one", "two"] and "fell over" in err
    assert json.loads((tmp_path / "r.json").read_text())["two"] == {"rate": fig(100.0, "higher")}


def test_a_baseline_passes_when_nothing_regressed(fakes, capsys, tmp_path):
    run(capsys, "all", "--json", str(tmp_path / "base.json"))
    fakes["one"] = ({"load": fig(10.5)}, [])  # 5% slower: within 10%
    code, out, _ = run(capsys, "all", "--baseline", str(tmp_path / "base.json"), "--threshold", "0.10")
    assert code == 0 and "2 values compared" in out and "0 regressed" in out


def test_a_regression_beyond_the_threshold_exits_3_and_is_reported(fakes, capsys, tmp_path):
    run(capsys, "all", "--json", str(tmp_path / "base.json"))
    fakes["two"] = ({"rate": fig(80.0, "higher")}, [])
    code, out, _ = run(capsys, "all", "--baseline", str(tmp_path / "base.json"))
    assert code == 3 and "1 regressed" in out and "two: rate" in out and "REGRESSED" in out
    assert run(capsys, "all", "--baseline", str(tmp_path / "base.json"), "--threshold", "0.25")[0] == 0


def test_a_correctness_failure_wins_over_a_regression(fakes, capsys, tmp_path):
    run(capsys, "all", "--json", str(tmp_path / "base.json"))
    fakes["two"] = ({"rate": fig(10.0, "higher")}, ["wrong answer"])
    assert run(capsys, "all", "--baseline", str(tmp_path / "base.json"))[0] == 1


def test_confirm_runs_what_regressed_again_and_fails_only_if_it_regresses_again(fakes, capsys, tmp_path):
    run(capsys, "all", "--json", str(tmp_path / "base.json"))
    fakes["two"] = [({"rate": fig(80.0, "higher")}, []), ({"rate": fig(99.0, "higher")}, [])]  # a burst of noise
    code, out, _ = run(capsys, "all", "--baseline", str(tmp_path / "base.json"), "--confirm")
    assert code == 0 and fake_benches.RAN[-3:] == ["one", "two", "two"]
    assert "0 of 1 regression(s) confirmed" in out
    fakes["two"] = ({"rate": fig(80.0, "higher")}, [])  # every time
    code, out, _ = run(capsys, "all", "--baseline", str(tmp_path / "base.json"), "--confirm")
    assert code == 3 and "1 of 1 regression(s) confirmed by the second run: two: rate" in out


def test_one_benchmark_is_compared_with_its_part_of_the_baseline(fakes, capsys, tmp_path):
    run(capsys, "all", "--json", str(tmp_path / "base.json"))
    code, out, _ = run(capsys, "one", "--baseline", str(tmp_path / "base.json"))
    assert code == 0 and fake_benches.RAN[-1] == "one" and "1 values compared" in out and "0 missing" in out


def test_an_unreadable_baseline_is_a_one_line_usage_error_before_anything_runs(fakes, capsys, tmp_path):
    code, out, err = run(capsys, "all", "--baseline", str(tmp_path / "nope.json"))
    assert code == 2 and not fake_benches.RAN and err.count("\n") == 1 and "cannot read results file" in err
    (tmp_path / "bad.json").write_text("{not json")
    code, _, err = run(capsys, "one", "--baseline", str(tmp_path / "bad.json"))
    assert code == 2 and "is not JSON" in err


def test_compare_and_merge_work_on_files_without_running_anything(fakes, capsys, tmp_path):
    for i, median in enumerate((10.0, 12.0)):
        (tmp_path / f"run{i}.json").write_text(json.dumps({"one": {"load": fig(median)}}))
    assert run(capsys, "merge", str(tmp_path / "run0.json"), str(tmp_path / "run1.json"),
               "--json", str(tmp_path / "base.json"))[0] == 0
    merged = json.loads((tmp_path / "base.json").read_text())
    assert merged["one"]["load"]["median"] == 11.0 and merged["one"]["load"]["max"] == 12.0
    (tmp_path / "now.json").write_text(json.dumps({"one": {"load": fig(13.0)}}))  # within 10% of 12
    assert run(capsys, "compare", str(tmp_path / "now.json"), str(tmp_path / "base.json"))[0] == 0
    (tmp_path / "now.json").write_text(json.dumps({"one": {"load": fig(13.5)}}))
    code, out, _ = run(capsys, "compare", str(tmp_path / "now.json"), str(tmp_path / "base.json"), "--all-changes")
    assert code == 3 and "REGRESSED" in out
    assert not fake_benches.RAN


@pytest.mark.parametrize("command", ["all", "compare", "merge", "log", "load", "agents", "git"])
def test_every_sub_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0 and "usage: python -m stress.bench" in capsys.readouterr().out
