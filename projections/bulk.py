"""Building large, long-lived structures without the cyclic collector in the way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large structure.

    Loading a project, or analysing one, allocates millions of objects that
    stay alive while it runs; the collector, triggered every few hundred
    allocations, would rescan the growing heap again and again (a third of a
    replay's time, half of an analysis'). Reference counting still frees
    everything as usual, and the collector resumes afterwards. Re-entrant.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
