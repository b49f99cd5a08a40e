"""The spec's benchmark tests: the ``performance_tracker`` fixture, and ``async def`` tests run on a
fresh event loop (the spec writes its snippets as coroutines; no plugin needed)."""

import asyncio
import inspect

import pytest

from stress.bench.tracker import PerformanceTracker


@pytest.fixture
def performance_tracker(request):
    """A :class:`~stress.bench.tracker.PerformanceTracker` measuring this test (resource monitor
    started before it, stopped after; the report saved under ``$PERFORMANCE_RESULTS_DIR`` if set)."""
    tracker = PerformanceTracker()
    tracker.setup(request.node.name)
    yield tracker
    tracker.teardown()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run a coroutine test function to completion with ``asyncio.run``."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
