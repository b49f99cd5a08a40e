"""Suite-wide: tests marked ``performance`` are skipped unless ``-m`` names that marker.

    python -m pytest                                  # the suite: performance tests skipped (fast)
    python -m pytest -m performance tests/performance # the spec's BENCH-001/002 snippets, with their limits

They time things against limits, which the default suite never does (its
tests assert behaviour only), and they take minutes.
"""

import pytest

PERFORMANCE = "performance"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PERFORMANCE in (config.getoption("markexpr") or ""):
        return  # asked for by name (``-m "not performance"`` deselects them anyway)
    skip = pytest.mark.skip(reason="performance test: run with -m performance")
    for item in items:
        if item.get_closest_marker(PERFORMANCE) is not None:
            item.add_marker(skip)


# Hypothesis: the default profile in CI; ``--hypothesis-profile=long`` for a long hunt (the
# whole-system machine in tests/system takes its examples and steps from the profile).
from hypothesis import settings  # noqa: E402

settings.register_profile("long", max_examples=2000, stateful_step_count=100)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("hypothesis_profile", None) == "long":
        config.option.timeout = 0  # a long hunt is meant to take long: no per-test time limit
