"""The on-disk record: one JSON object per line, sealed by a CRC-32.

A record line is the JSON object ``{"seq","id","type","ts","cmd",["end",]"data","crc"}``
written with no insignificant whitespace, UTF-8, newline-terminated::

    {"seq":7,"id":"9f..","type":"task.added","ts":"2026-11-28T15:56:58.123456Z","cmd":null,"data":{..},"crc":"1a2b3c4d"}

``end`` appears only in a batch of two or more records: the seq of the
batch's last record, so that readers can tell a whole batch from part of one.
``crc`` is the CRC-32 (zlib, as 8 lowercase hex digits) of every byte of the
line before ``,"crc":``. Because the checksum sits in a fixed-width suffix, a
line is verified without parsing it: O(len) with zlib's C loop, then one
``orjson.loads``. JSON strings never contain a raw newline, so a line break
always ends a record.

Everything here is pure (no I/O): encoding happens in two halves so that the
expensive half (serialising ``data``) runs *before* the append lock is taken,
and only the cheap half (splicing in ``seq`` and the checksum) runs under it.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any, NamedTuple

import orjson

from .errors import CHECKSUM, GAP, MALFORMED, InvalidEventError, RecordTooLargeError

_CRC_TAG = b',"crc":"'
_CHECKSUM_MISMATCH = "checksum mismatch"
#: bytes after the checksummed body: ``,"crc":"`` + 8 hex + ``"}`` + newline
SUFFIX_LEN = len(_CRC_TAG) + 8 + 2 + 1
#: widest possible ``"seq":<n>`` header difference, so the size cap is exact
#: before the seq is known (a seq has at most 20 decimal digits).
_MAX_SEQ_DIGITS = 20

_TYPE_JSON: dict[str, bytes] = {}
_EVENT_KEYS = frozenset({"type", "data"})
_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


class Record(NamedTuple):
    """One event as stored: what ``read``, ``follow`` and transactions yield."""

    seq: int
    id: str
    type: str
    ts: str
    cmd: str | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


class PreparedEvent(NamedTuple):
    """An event validated and serialised outside the lock, awaiting seq and ts."""

    pre: bytes  # b',"id":..,"type":..,"ts":"'   (seq goes before, ts after)
    cmd: bytes  # b'","cmd":..'                    (then the batch end, if any)
    data: bytes  # b',"data":..'
    size: int  # bytes of the final line, assuming the widest seq and batch end


#: width of a timestamp as :func:`utc_timestamp` writes it
TS_LEN = len("2026-11-28T15:56:58.123456Z")


_last_second: list = [None, ""]  # (second, its formatted prefix): strftime once a second


def utc_timestamp(ns: int | None = None) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``: fixed width, so string order is time order."""
    micros = (time.time_ns() if ns is None else ns) // 1000
    secs, frac = divmod(micros, 1_000_000)
    cached = _last_second
    if cached[0] != secs:
        cached[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        cached[0] = secs
    return f"{cached[1]}.{frac:06d}Z"


def prepare(
    index: int,
    event: Any,
    event_id: str,
    cmd: str | None,
    max_record_bytes: int,
) -> PreparedEvent:
    """Validate ``event`` (``{"type": str, "data": dict}``) and serialise it.

    O(size of data). Raises :class:`InvalidEventError` (naming the event's
    index in its batch) for a wrong shape, a value JSON cannot represent
    exactly (NaN, infinities, non-string keys, lone surrogates, arbitrary
    objects), or :class:`RecordTooLargeError` over ``max_record_bytes``.
    """
    if not isinstance(event, dict):
        raise InvalidEventError(index, f"expected a dict, got {type(event).__name__}")
    if not _EVENT_KEYS.issuperset(event):
        extra = sorted(map(str, set(event) - _EVENT_KEYS))
        raise InvalidEventError(index, f"unknown keys {extra}; only 'type' and 'data' are allowed")
    etype = event.get("type")
    if not isinstance(etype, str) or not etype:
        raise InvalidEventError(index, "'type' must be a non-empty string")
    data = event.get("data", {})
    if not isinstance(data, dict):
        raise InvalidEventError(index, f"'data' must be a dict, got {type(data).__name__}")
    problem = _unrepresentable(data) if _orjson_refuses(data) else None
    if problem:
        raise InvalidEventError(index, problem)
    try:
        type_json = _TYPE_JSON.get(etype)
        if type_json is None:
            type_json = _dumps(etype).encode()
            if len(_TYPE_JSON) < 4096:  # types are few; the cap only guards against abuse
                _TYPE_JSON[etype] = type_json
        # event_id is hex (written by the log itself): no escaping needed
        pre = b',"id":"%s","type":%s,"ts":"' % (event_id.encode(), type_json)
        cmd_part = b'","cmd":%s' % (b"null" if cmd is None else _dumps(cmd).encode())
        data_part = b',"data":%s' % _dumps(data).encode()
    except (TypeError, ValueError) as exc:  # includes UnicodeEncodeError
        raise InvalidEventError(index, f"not serialisable as JSON: {exc}") from None
    size = (len(pre) + len(cmd_part) + len(data_part) + len('{"seq":,"end":') + 2 * _MAX_SEQ_DIGITS
            + TS_LEN + SUFFIX_LEN)
    if size > max_record_bytes:
        raise RecordTooLargeError(index, size, max_record_bytes)
    return PreparedEvent(pre, cmd_part, data_part, size)


#: integers must fit in 64 bits: wider ones lose precision in most JSON readers
#: (orjson, which parses records, would silently read them back as floats)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _orjson_refuses(value: Any) -> bool:
    """Whether orjson refuses ``value``: it does for everything :func:`_unrepresentable`
    finds (a non-string key, an integer beyond 64 bits, a lone surrogate), in C, ~10x
    faster than that walk in Python; only a refused value is walked, for the exact reason.
    (What orjson accepts and the json encoder does not, NaN or a datetime, the encoder
    refuses next.)"""
    try:
        orjson.dumps(value)
    except TypeError:  # (orjson.JSONEncodeError is a TypeError)
        return True
    return False


def _unrepresentable(value: Any) -> str | None:
    """Why ``value`` would not read back exactly, or None. O(size of value)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    return f"dict key {key!r} inside 'data' is not a string (JSON would silently convert it)"
                if isinstance(sub, (dict, list, tuple, int)):
                    stack.append(sub)
        elif isinstance(item, (list, tuple)):
            stack.extend(sub for sub in item if isinstance(sub, (dict, list, tuple, int)))
        elif isinstance(item, int) and not _INT_MIN <= item <= _INT_MAX:
            return f"integer {item} does not fit in 64 bits; store it as a string"
    return None


def seal(seq: int, ts: bytes, prepared: PreparedEvent, end: int | None = None) -> bytes:
    """The final line for ``prepared`` at ``seq`` (``ts`` ASCII): O(size), under the lock.

    ``end`` is the seq of the last record of a multi-record batch; every record
    of such a batch carries it, so a reader can tell a whole batch from part of one.
    """
    batch = b',"end":%d' % end if end is not None else b""
    body = b'{"seq":%d%s%s%s%s%s' % (seq, prepared.pre, ts, prepared.cmd, batch, prepared.data)
    return body + b'%s%08x"}\n' % (_CRC_TAG, zlib.crc32(body))


class Damage(Exception):
    """A line that is not a valid record; ``reason`` says precisely why, ``kind`` which
    kind of damage it is (see :mod:`eventstore.errors`)."""

    def __init__(self, reason: str, kind: str = MALFORMED):
        self.reason = reason
        self.kind = kind
        super().__init__(reason)


def decode(line: bytes, expected_seq: int) -> Record:
    """Verify and parse one line (with its newline). O(len(line)).

    Raises :class:`Damage` when the line is incomplete, fails its checksum, is
    not UTF-8 JSON of the record shape, or carries a seq other than
    ``expected_seq``.
    """
    if not sealed(line):
        reason = _diagnose(line)
        raise Damage(reason, CHECKSUM if reason == _CHECKSUM_MISMATCH else MALFORMED)
    try:
        obj = orjson.loads(line)  # 4.8x json.loads here; exact, since prepare() refuses what it would alter
        record = Record(obj["seq"], obj["id"], obj["type"], obj["ts"], obj["cmd"], obj["data"])
    except (ValueError, KeyError, TypeError):
        raise Damage("checksum matches but the line is not a record of the expected shape") from None
    if record.seq != expected_seq:
        raise Damage(f"seq {record.seq} where seq {expected_seq} was expected (a gap or a duplicate)", GAP)
    return record


def decode_buffer(buf: bytes, next_seq: int) -> tuple[list[Record], int, int | None]:
    """Decode the complete batches at the start of ``buf`` in one tight pass.

    Returns ``(records, used, bad_at)``: the records of every *complete* batch,
    with seqs ``next_seq``, ``next_seq + 1``, ...; ``used``, the bytes they
    occupy (so ``buf[used:]`` starts with an unfinished batch or line, or is
    empty); ``bad_at``, the offset of the first complete line that is not the
    next valid record (None when the buffer simply ends). A batch is complete
    once its record with ``seq == end`` is read; until then none of it is
    returned. The same checks as :func:`decode`, minus the diagnosis (call
    :func:`decode` on the bad line for its reason). O(len(buf)), with no call
    per record but the C ones, because writers run it under the append lock.
    """
    records: list[Record] = []
    pending: list[Record] = []  # records of the batch not yet complete
    batch_end = None
    find, crc32, loads, new = buf.find, zlib.crc32, orjson.loads, tuple.__new__
    pos = used = 0
    while True:
        j = find(b"\n", pos)
        if j < 0:
            return records, used, None
        body_end = j - 18  # line = buf[pos:j+1] = body + ',"crc":"' + 8 hex + '"}' + newline
        if (
            body_end <= pos
            or buf[body_end : j - 10] != _CRC_TAG
            or buf[j - 2 : j] != b'"}'
            or buf[j - 10 : j - 2] != b"%08x" % crc32(buf[pos:body_end])
        ):
            return records, used, pos
        try:
            obj = loads(buf[pos : j + 1])  # copying a short slice beats a memoryview here
            record = new(Record, (obj["seq"], obj["id"], obj["type"], obj["ts"], obj["cmd"], obj["data"]))
        except (ValueError, KeyError, TypeError):
            return records, used, pos
        end = obj.get("end")
        if record[0] != next_seq:
            return records, used, pos  # a gap or a duplicate
        if batch_end is None:  # starts a batch: a batch of one has no "end"
            if end is not None and (type(end) is not int or end <= next_seq):
                return records, used, pos
        elif end != batch_end:  # every record of a batch names the same end
            return records, used, pos
        next_seq += 1
        pos = j + 1
        if end is None:  # a batch of one
            records.append(record)
            used = pos
        elif end == record[0]:  # the last record of its batch
            pending.append(record)
            records += pending
            pending, batch_end, used = [], None, pos
        else:
            pending.append(record)
            batch_end = end


def sealed(line: bytes) -> bool:
    """True when ``line`` is complete and its checksum field matches its body.

    The digits are compared exactly: parsing them would accept "A" for "a"
    and let a flipped bit in the checksum field itself go unnoticed.
    """
    return (
        len(line) > SUFFIX_LEN
        and line[-1] == 0x0A
        and line[-SUFFIX_LEN : -SUFFIX_LEN + len(_CRC_TAG)] == _CRC_TAG
        and line[-3:-1] == b'"}'
        and line[-11:-3] == b"%08x" % zlib.crc32(line[:-SUFFIX_LEN])
    )


def read_seq(line: bytes) -> int | None:
    """The seq of a checksum-valid line (to name damage and resync), else None."""
    if sealed(line):
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            return None
        return seq if isinstance(seq, int) else None
    return None


def is_valid(line: bytes) -> bool:
    """True when ``line`` is a complete record whose checksum matches (any seq)."""
    return read_seq(line) is not None


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def _diagnose(line: bytes) -> str:
    if not line.endswith(b"\n"):
        return "incomplete record (no line end): a write was cut short"
    if not line.strip(b"\x00\n"):
        return "a run of zero bytes (space allocated but never written)"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (bad byte at line offset {exc.start})"
    if not _is_json(line):
        return "not valid JSON"
    if _CRC_TAG not in line:
        return "JSON without a checksum field (was the file edited by hand?)"
    return _CHECKSUM_MISMATCH

