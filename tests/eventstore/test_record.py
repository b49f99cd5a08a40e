"""The record codec: exact format, checksum, and precise damage diagnosis."""

import json
import zlib

import pytest

from eventstore import InvalidEventError, RecordTooLargeError
from eventstore.record import SUFFIX_LEN, Damage, decode, prepare, seal, utc_timestamp

TS = "2026-11-28T10:00:00.000001Z"


def line_for(seq=1, data=None, cmd=None, kind="t"):
    return seal(seq, TS.encode(), prepare(0, {"type": kind, "data": data or {}}, "id-1", cmd, 1 << 20))


def test_line_is_json_with_fields_in_order_and_crc_of_prefix():
    line = line_for(7, {"a": "é\n"}, cmd="k")
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # a newline inside data is escaped
    obj = json.loads(line)
    assert list(obj) == ["seq", "id", "type", "ts", "cmd", "data", "crc"]
    assert obj["seq"] == 7 and obj["cmd"] == "k" and obj["data"] == {"a": "é\n"} and obj["ts"] == TS
    assert int(obj["crc"], 16) == zlib.crc32(line[:-SUFFIX_LEN])


def test_decode_round_trips():
    record = decode(line_for(3, {"x": [1, 2.5, None, True]}, cmd="c"), 3)
    assert record.seq == 3 and record.id == "id-1" and record.type == "t"
    assert record.ts == TS and record.cmd == "c" and record.data == {"x": [1, 2.5, None, True]}


@pytest.mark.parametrize(
    "mangle, reason",
    [
        (lambda b: b[:-1], "incomplete record"),
        (lambda b: b[:20], "incomplete record"),
        (lambda b: b.replace(b'"t"', b'"u"'), "checksum mismatch"),
        (lambda b: b"\x00" * len(b), "incomplete record"),
        (lambda b: b"\x00" * (len(b) - 1) + b"\n", "zero bytes"),
        (lambda b: b[:5] + b"\xff\xfe" + b[7:], "not UTF-8"),
        (lambda b: b.replace(b":", b";", 1), "not valid JSON"),
        (lambda b: json.dumps({"seq": 1}).encode() + b"\n", "without a checksum"),
    ],
)
def test_damage_is_diagnosed_precisely(mangle, reason):
    with pytest.raises(Damage) as info:
        decode(mangle(line_for()), 1)
    assert reason in info.value.reason


def test_64_bit_integers_and_floats_read_back_exactly():
    data = {"big": 2**64 - 1, "small": -(2**63), "f": 0.1, "neg0": -0.0, "e": 1e308, "u": "é\u2028"}
    assert decode(line_for(1, data), 1).data == data


def test_checksum_digits_must_match_exactly():
    line = line_for()
    digits = line[-11:-3]
    assert digits != digits.upper()  # this line's checksum has a hex letter to flip
    with pytest.raises(Damage, match="checksum mismatch"):
        decode(line[:-11] + digits.upper() + line[-3:], 1)


def test_unexpected_seq_is_damage_naming_both_seqs():
    with pytest.raises(Damage, match="seq 5 where seq 4 was expected"):
        decode(line_for(5), 4)


@pytest.mark.parametrize(
    "event, message",
    [
        ("nope", "expected a dict"),
        ({"type": "", "data": {}}, "non-empty string"),
        ({"type": 3, "data": {}}, "non-empty string"),
        ({"type": "t", "data": []}, "'data' must be a dict"),
        ({"type": "t", "data": {}, "extra": 1}, "unknown keys"),
        ({"type": "t", "data": {"x": float("nan")}}, "not serialisable"),
        ({"type": "t", "data": {"x": object()}}, "not serialisable"),
        ({"type": "t", "data": {"x": "\ud800"}}, "not serialisable"),
        ({"type": "t", "data": {"x": {1: "a"}}}, "is not a string"),
        ({"type": "t", "data": {"x": [1, 2**64]}}, "does not fit in 64 bits"),
        ({"type": "t", "data": {"x": -(2**63) - 1}}, "does not fit in 64 bits"),
    ],
)
def test_invalid_events_are_refused_with_their_index(event, message):
    with pytest.raises(InvalidEventError, match=message) as info:
        prepare(4, event, "id", None, 1 << 20)
    assert info.value.index == 4 and "event #4" in str(info.value)


def test_size_cap_counts_the_whole_line():
    small = prepare(0, {"type": "t", "data": {"p": "x" * 100}}, "id", None, 1 << 20)
    assert small.size >= len(seal(10**19, TS.encode(), small))  # the cap assumes the widest seq
    with pytest.raises(RecordTooLargeError) as info:
        prepare(2, {"type": "t", "data": {"p": "x" * 2000}}, "id", None, 1024)
    assert info.value.size > 1024 and info.value.limit == 1024 and "event #2" in str(info.value)


def test_timestamps_are_fixed_width_utc_and_ordered():
    a, b = utc_timestamp(1_700_000_000_000_001_000), utc_timestamp(1_700_000_000_100_000_000)
    assert a == "2023-11-14T22:13:20.000001Z" and len(a) == len(b) and a < b
