"""The regression check on synthetic results: improved, within the threshold, regressed either way,
new and missing figures, scopes, the noise a merged baseline tolerates."""

import math

import pytest

from stress.bench.figures import HIGHER, LOWER, Reading, readings, spread, worse_by
from stress.bench.regress import compare, detect_performance_regressions, format_comparison, merge, values


def fig(median, unit="ms", better=LOWER, low=None, high=None, **extra):
    return {"median": median, "min": median if low is None else low, "max": median if high is None else high,
            "repetitions": 1, "unit": unit, "better": better, **extra}


def results(**figures):
    return {"_meta": {"quick": True}, "bench": figures}


BASELINE = results(load=fig(10.0), rate=fig(1000.0, "events/s", HIGHER))


def test_the_same_figures_pass():
    cmp = compare(BASELINE, BASELINE)
    assert cmp.ok and len(cmp.changes) == 2 and not cmp.regressions and not cmp.improvements
    assert detect_performance_regressions(BASELINE, BASELINE) == []


@pytest.mark.parametrize(("load", "rate"), [(8.0, 1200.0), (10.9, 910.0), (11.0, 900.0)])
def test_improvements_and_changes_within_the_threshold_pass(load, rate):
    assert compare(results(load=fig(load), rate=fig(rate, "events/s", HIGHER)), BASELINE, 0.10).ok


def test_improvements_beyond_the_threshold_are_listed():
    cmp = compare(results(load=fig(8.0), rate=fig(1200.0, "events/s", HIGHER)), BASELINE, 0.10)
    assert cmp.ok and {c.key for c in cmp.improvements} == {"bench: load", "bench: rate"}


def test_a_slower_time_regresses():
    messages = detect_performance_regressions(results(load=fig(11.5), rate=fig(1000.0, "events/s", HIGHER)),
                                              BASELINE, 0.10)
    assert len(messages) == 1
    assert messages[0].startswith("bench: load: 15.0% worse (11.50 vs 10.00 ms baseline")


def test_a_lower_throughput_regresses():
    cmp = compare(results(load=fig(10.0), rate=fig(850.0, "events/s", HIGHER)), BASELINE, 0.10)
    assert [c.key for c in cmp.regressions] == ["bench: rate"]
    assert cmp.regressions[0].worse == pytest.approx(0.15)


def test_the_threshold_is_a_parameter():
    current = results(load=fig(11.5), rate=fig(1000.0, "events/s", HIGHER))
    assert not compare(current, BASELINE, 0.20).regressions
    assert compare(current, BASELINE, 0.0).regressions
    with pytest.raises(ValueError, match="threshold"):
        compare(current, BASELINE, -0.1)


def test_new_and_missing_figures_are_listed_not_failed():
    cmp = compare(results(load=fig(50.0, better=LOWER) | {"median": 10.0}, extra=fig(1.0)),
                  results(load=fig(10.0), gone=fig(1.0)))
    assert cmp.ok and cmp.new == ["bench: extra"] and cmp.missing == ["bench: gone"]
    text = format_comparison(cmp)
    assert "new (not in the baseline): bench: extra" in text and "missing (in the baseline only): bench: gone" in text


def test_a_benchmark_absent_on_one_side_is_missing_not_a_regression():
    cmp = compare({"other": {"x": fig(1.0)}}, BASELINE)
    assert cmp.ok and sorted(cmp.missing) == ["bench: load", "bench: rate"] and cmp.new == ["other: x"]


def test_information_only_entries_are_never_compared():
    info = {"count": {"median": 3, "unit": ""}, "profile": {"text": "..."}, "sizes": [1, 2],
            "unmeasured": fig(None), "nan": fig(math.nan)}
    assert values(results(**info)) == {}
    assert compare(results(**info), results(**{k: v for k, v in info.items() if k != "count"})).ok


def test_a_zero_baseline_is_skipped():
    cmp = compare(results(load=fig(5.0)), results(load=fig(0.0)))
    assert cmp.ok and cmp.skipped == ["bench: load"] and not cmp.changes


def test_robust_scope_compares_a_figure_through_its_peer_ratios():
    base = results(load=fig(10.0, ratio_sqlite=0.5, ratio_json_file=2.0))
    slower_machine = results(load=fig(20.0, ratio_sqlite=0.5, ratio_json_file=2.0))
    assert compare(slower_machine, base).ok  # the peers slowed down as much: our code did not
    assert not compare(slower_machine, base, scope="all").ok  # the absolute time did
    worse = compare(results(load=fig(10.0, ratio_sqlite=0.6, ratio_json_file=2.0)), base)
    assert [c.key for c in worse.regressions] == ["bench: load [/ sqlite]"]


def test_ratios_scope_keeps_machine_independent_values_only():
    current = results(load=fig(10.0), ratio=fig(1.5, "x", HIGHER), timed=fig(5.0, ratio_sqlite=0.9))
    assert sorted(values(current, "ratios")) == ["bench: ratio", "bench: timed [/ sqlite]"]
    assert sorted(values(current, "robust")) == ["bench: load", "bench: ratio", "bench: timed [/ sqlite]"]
    assert sorted(values(current, "all")) == ["bench: load", "bench: ratio", "bench: timed",
                                              "bench: timed [/ sqlite]"]
    with pytest.raises(ValueError, match="scope"):
        values(current, "some")


def test_a_peers_own_figures_measure_the_machine_and_are_compared_only_in_all_scope():
    base, now = results(sqlite=fig(100.0, "steps/s", HIGHER, peer=True)), results(
        sqlite=fig(50.0, "steps/s", HIGHER, peer=True))
    assert compare(now, base).ok and compare(now, base, scope="ratios").ok
    assert not compare(now, base, scope="all").ok


def test_the_worst_the_baseline_saw_widens_the_tolerance():
    base = results(load=fig(10.0, low=9.0, high=12.0), rate=fig(1000.0, "events/s", HIGHER, low=800.0, high=1100.0))
    assert compare(results(load=fig(13.0), rate=fig(730.0, "events/s", HIGHER)), base).ok  # within 10% of the worst
    cmp = compare(results(load=fig(13.5), rate=fig(710.0, "events/s", HIGHER)), base)
    worse = {c.key: (c.worse, c.beyond) for c in cmp.regressions}  # vs the median, vs the worst seen
    assert worse["bench: load"] == (pytest.approx(0.35), pytest.approx(0.125))
    assert worse["bench: rate"] == (pytest.approx(0.29), pytest.approx(0.1125))


def test_merge_keeps_the_median_and_the_noise_of_several_runs():
    runs = [results(load=fig(m, low=m - 1, high=m + 1, ratio_sqlite=r), note={"text": t})
            for m, r, t in ((10.0, 0.5, "a"), (14.0, 0.7, "b"), (11.0, 0.6, "c"))]
    merged = merge(runs)
    entry = merged["bench"]["load"]
    assert entry["median"] == 11.0 and entry["min"] == 9.0 and entry["max"] == 15.0 and entry["runs"] == 3
    assert entry["ratio_sqlite"] == 0.6 and entry["bands"] == {"sqlite": [0.5, 0.7]}
    assert merged["bench"]["note"]["text"] == "c" and merged["_meta"]["merged_runs"] == 3
    value = values(merged)["bench: load [/ sqlite]"]
    assert (value.value, value.low, value.high) == (0.6, 0.5, 0.7)
    assert compare(results(load=fig(11.0, ratio_sqlite=0.76)), merged).ok  # within 10% of 0.7
    assert not compare(results(load=fig(11.0, ratio_sqlite=0.78)), merged).ok
    with pytest.raises(ValueError):
        merge([])


def test_spread_and_readings():
    entry = spread([3.0, 1.0, math.nan, 2.0, 10.0], "ms", LOWER, tasks=5)
    assert entry == {"median": 2.5, "min": 1.0, "max": 10.0, "repetitions": 4, "unit": "ms", "better": LOWER,
                     "tasks": 5}
    assert "better" not in spread([1.0], "", None) and spread([], "ms", LOWER)["median"] is None
    got = readings({"_meta": {"x": 1}, "b": {"f": entry | {"ratio_sqlite": 0.5, "ratio_bad": None}}})
    assert got == {"b: f": Reading("b: f", 2.5, 1.0, 10.0, "ms", LOWER, {"sqlite": 0.5})}
    assert worse_by(11.0, 10.0, LOWER) == pytest.approx(0.1) and worse_by(11.0, 10.0, HIGHER) == pytest.approx(-0.1)
