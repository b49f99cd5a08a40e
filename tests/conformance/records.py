"""Small helpers the conformance tests share: events to append, and what to compare."""

from __future__ import annotations


def ev(kind: str = "t", **data) -> dict:
    """An event to append: ``{"type": kind, "data": data}``."""
    return {"type": kind, "data": data}


def seqs(records) -> list[int]:
    return [r.seq for r in records]


def result(r) -> tuple[int, int, bool]:
    """An AppendResult as a plain tuple."""
    return (r.first_seq, r.last_seq, r.duplicate)
