"""Fitted growth: known curves give their exponents (no timing involved)."""

import math

import pytest

from stress.bench.scaling import growth, loglog_slope, shape

SIZES = [10, 100, 1_000, 10_000, 100_000]


@pytest.mark.parametrize(("cost", "slope"), [(lambda n: 7.0, 0.0), (lambda n: 0.5 * n, 1.0),
                                             (lambda n: 2e-6 * n * n, 2.0), (lambda n: 3 * n**0.5, 0.5)])
def test_power_laws_give_their_exponent(cost, slope):
    assert loglog_slope((n, cost(n)) for n in SIZES) == pytest.approx(slope)


def test_too_few_or_unusable_points_give_nan():
    assert math.isnan(loglog_slope([(10, 1.0)]))
    assert math.isnan(loglog_slope([(10, 1.0), (10, 2.0), (100, 0.0), (-1, 5.0)]))


def test_growth_fits_from_the_given_size_and_keeps_the_whole_fit_beside():
    fixed_cost = {n: 5.0 + 0.01 * n for n in SIZES}  # linear once the fixed cost no longer dominates
    g = growth(fixed_cost, from_size=1_000)
    assert (g.small, g.large) == (1_000, 100_000)
    assert 0.9 < g.slope < 1.0 and g.slope_all < 0.7
    assert g.per_item_small == pytest.approx(0.015) and g.per_item_growth == pytest.approx(0.01005 / 0.015)
    assert g.shape == "linear (n to n log n)"


def test_growth_falls_back_to_every_size_and_ignores_what_was_not_measured():
    g = growth({10: 1.0, 100: 10.0, 1_000: math.nan}, from_size=1_000)
    assert (g.small, g.large) == (10, 100) and g.slope == pytest.approx(1.0) and g.per_item_growth == pytest.approx(1)
    assert growth({10: 1.0}) is None and growth({}) is None


def test_shapes():
    assert [shape(s) for s in (0.02, 0.5, 1.1, 1.9, math.nan)] == [
        "constant", "sub-linear", "linear (n to n log n)", "super-linear", "-"]
