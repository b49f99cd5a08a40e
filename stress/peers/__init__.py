"""Peers: the same workload implemented on other stores, for benchmarks to compare against.

Some peers need a library that is an optional extra, never a runtime dependency
(``pip install -e '.[bench]'``): a benchmark asks :func:`installed` before it
imports such a peer, and skips it (saying so) when the library is missing.
"""

from __future__ import annotations

import importlib.util

EVENTSOURCING = "eventsourcing"  # PyPI ``eventsourcing``: stress.peers.eventsourcing_plan, eventsourcing_step
INSTALL_HINT = "pip install -e '.[bench]'"


def installed(library: str) -> bool:
    """Whether ``library`` (a top-level module name) can be imported here. O(1), imports nothing."""
    return importlib.util.find_spec(library) is not None


def skip_note(peer: str, library: str) -> str:
    """The line a benchmark prints when it skips ``peer`` because ``library`` is missing."""
    return f"peer {peer} skipped: the {library!r} library is not installed ({INSTALL_HINT})"
