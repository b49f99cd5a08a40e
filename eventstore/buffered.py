"""What the transactions of every backend share: appends buffered in order until the block ends.

A batch is checked against its idempotency key first (a retry wins over a stale
``expected_seq``: it returns the original result and buffers nothing), then against
``expected_seq``, then buffered; its seqs are the next ones after the log's end
and whatever the transaction already buffered. O(batch).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .errors import ConcurrencyConflict


class AppendResult(NamedTuple):
    """The seqs an append occupies; ``duplicate`` when its key was already in the log."""

    first_seq: int
    last_seq: int
    duplicate: bool = False


class BufferedAppends:
    """A base for a backend's transaction: subclasses set ``_base`` (the log's end when the
    transaction began) and call :meth:`_start_buffer`, and provide ``seen(key)``."""

    _base: int

    def _start_buffer(self) -> None:
        self._buffer: list[Any] = []  # the backend's prepared records, written together on exit
        self._keys: dict[str, AppendResult] = {}
        self._next = self._base + 1

    @property
    def last_seq(self) -> int:
        """The log's end, counting this transaction's buffered appends."""
        return self._next - 1

    def seen(self, idempotency_key: str) -> AppendResult | None:  # pragma: no cover - each backend's own
        raise NotImplementedError

    def _add(self, items: list[Any], expected_seq: int | None, key: str | None) -> AppendResult:
        if key is not None:
            done = self.seen(key)
            if done is not None:
                return done
        if expected_seq is not None and expected_seq != self.last_seq:
            raise ConcurrencyConflict(expected_seq, self.last_seq)
        first = self._next
        self._buffer.extend(items)
        self._next = first + len(items)
        result = AppendResult(first, self._next - 1)
        if key is not None:
            self._keys[key] = result
        return result
