"""The ``performance_tracker`` fixture and coroutine tests (not marked ``performance``: part of the
default suite, and fast; no timing is asserted)."""

import asyncio


async def test_a_coroutine_test_runs_on_an_event_loop_with_the_tracker(performance_tracker):
    performance_tracker.start_timer("op")
    await asyncio.sleep(0)
    assert performance_tracker.end_timer("op") >= 0
    performance_tracker.assert_performance("op", 3600.0)
    assert performance_tracker.get_memory_usage() >= 0
    assert performance_tracker.resource_monitor.running


def test_the_tracker_is_set_up_for_this_test(performance_tracker, request):
    assert performance_tracker.scenario == request.node.name
