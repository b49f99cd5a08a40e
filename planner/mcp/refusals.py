"""Which exceptions are refusals (the caller's to fix), and their one-line message: the CLI's."""

from __future__ import annotations

import sys


def refusal(exc: BaseException) -> str | None:
    """The one line the CLI prints for ``exc`` (without its ``planner:`` prefix) when ``exc`` is
    a refusal: a :class:`~planner.domain.errors.DomainError` (a cycle, a stale token, an unknown
    task, planning mode, ...), an :class:`~eventstore.EventStoreError`, or a pydantic
    ``ValidationError`` of a command (``invalid effort: ...``). None for anything else: a bug."""
    from eventstore import EventStoreError
    from planner.domain.errors import DomainError
    from planner.service.wire import encode_error

    pydantic = sys.modules.get("pydantic")  # (a ValidationError without importing pydantic)
    invalid = pydantic is not None and isinstance(exc, pydantic.ValidationError)
    if not (invalid or isinstance(exc, DomainError | EventStoreError)):
        return None
    return encode_error(exc)["message"].splitlines()[0]
