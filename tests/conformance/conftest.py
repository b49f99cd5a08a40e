"""The backends the conformance suite runs against, and the fixtures every test uses.

Every test in this directory is written once, against :class:`eventstore.Store` and
:func:`eventstore.open_store` only, and runs once per entry of :data:`BACKENDS`
(files, and PostgreSQL: a fresh schema per test on the session's throwaway server, see
``tests/pg_server.py``). Adding a backend is adding one :class:`Backend` there: how to
name a fresh, empty store for one test, and the options to open it with.

Fixtures:

``backend``        the :class:`Backend` under test (parametrised)
``store_name``     a fresh, empty store's name, as :func:`open_store` takes it
``ref``            a :class:`~tests.conformance.procs.StoreRef`: (name, project, options),
                   picklable, so that a child process opens the same project
``store``          a handle on ``ref``'s project, created empty
``open_another``   opens one more handle on the same project (closed at teardown)
``processes``      starts child processes (``spawn``) running a body of
                   :mod:`tests.conformance.procs`, and collects what they report
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .. import pg_server
from .procs import StoreRef

#: how long the test waits for a child's report (a safety net: children finish in well under a second)
CHILD_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Backend:
    """One kind of store, as the suite reaches it."""

    id: str
    #: the name of a fresh, empty store for one test (given the test's temporary directory)
    make_name: Callable[[Path], str]
    #: options for :func:`open_store` (every handle, in the test and in its children)
    options: dict[str, Any] = field(default_factory=dict)


BACKENDS = [
    Backend("file", lambda tmp: f"file:{tmp / 'store'}", {"durability": "none"}),
    # one throwaway cluster per session (tests/pg_server.py), a fresh schema per test
    Backend("postgresql", lambda tmp: pg_server.store_name(), {}),
]


def fresh_project() -> str:
    """A project name no other test uses (a shared server would hold every test's projects)."""
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=BACKENDS, ids=lambda b: b.id)
def backend(request) -> Backend:
    return request.param


@pytest.fixture
def store_name(backend: Backend, tmp_path: Path) -> str:
    return backend.make_name(tmp_path)


@pytest.fixture
def ref(backend: Backend, store_name: str) -> StoreRef:
    return StoreRef(store_name, fresh_project(), dict(backend.options))


@pytest.fixture
def store(ref: StoreRef) -> Iterator[Any]:
    handle = ref.open(create=True)
    yield handle
    handle.close()


@pytest.fixture
def open_another(ref: StoreRef, store) -> Iterator[Callable[[], Any]]:
    """``open_another()``: one more handle on ``store``'s project (as another process would open it)."""
    handles = []

    def opener():
        handles.append(ref.open())
        return handles[-1]

    yield opener
    for handle in handles:
        handle.close()


class Processes:
    """Child processes running bodies of :mod:`tests.conformance.procs`, each reporting once."""

    def __init__(self):
        self.ctx = multiprocessing.get_context("spawn")
        self.queue = self.ctx.Queue()
        self.started: list[Any] = []

    def start(self, target: Callable, *args: Any) -> Any:
        proc = self.ctx.Process(target=target, args=(self.queue, *args), daemon=True)
        proc.start()
        self.started.append(proc)
        return proc

    def results(self, count: int) -> dict[int, Any]:
        """Wait for ``count`` reports; every child must have succeeded. Returns {worker: value}."""
        values: dict[int, Any] = {}
        for _ in range(count):
            status, worker, value = self.queue.get(timeout=CHILD_TIMEOUT_S)
            assert status == "ok", f"worker {worker} failed:\n{value}"
            values[worker] = value
        return values

    def join(self) -> None:
        for proc in self.started:
            proc.join(CHILD_TIMEOUT_S)
            assert proc.exitcode == 0, f"{proc} exited with {proc.exitcode}"

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.is_alive():
                proc.kill()
                proc.join()


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.kill_all()
