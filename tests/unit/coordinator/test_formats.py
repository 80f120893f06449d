"""__consumer_offsets key/value formats, the partition of a group, the compaction rule."""

from __future__ import annotations

import array
import ctypes
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.coordinator.compaction import compact, compact_timed
from broker.coordinator.formats import (
    GroupKey,
    GroupValue,
    OffsetKey,
    OffsetValue,
    RecordFormatError,
    StoredMember,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_group_value,
    encode_key,
    encode_offset_value,
)
from broker.coordinator.placement import java_string_hash, partition_for

names = st.text(max_size=20)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
members = st.builds(
    StoredMember, names, st.none() | names, names, names, i32, i32, st.binary(max_size=40),
    st.binary(max_size=40),
)
group_values = st.builds(
    GroupValue, names, i32, st.none() | names, st.none() | names, i64,
    st.lists(members, max_size=4).map(tuple),
)


@given(st.builds(OffsetKey, names, names, i32) | st.builds(GroupKey, names))
def test_keys_round_trip(key: OffsetKey | GroupKey) -> None:
    assert decode_key(encode_key(key)) == key


@given(st.builds(OffsetValue, i64, i32, names, i64))
def test_offset_values_round_trip(value: OffsetValue) -> None:
    assert decode_offset_value(encode_offset_value(value)) == value


@given(group_values)
def test_group_values_round_trip(value: GroupValue) -> None:
    assert decode_group_value(encode_group_value(value)) == value


def test_exact_bytes_of_an_offset_record() -> None:
    key = encode_key(OffsetKey("g", "tp", 7))
    assert key == b"\x00\x01" + b"\x00\x01g" + b"\x00\x02tp" + b"\x00\x00\x00\x07"
    value = encode_offset_value(OffsetValue(5, -1, "", 1000))
    assert value == (
        b"\x00\x03"
        + b"\x00\x00\x00\x00\x00\x00\x00\x05"
        + b"\xff\xff\xff\xff"
        + b"\x00\x00"
        + b"\x00\x00\x00\x00\x00\x00\x03\xe8"
    )
    assert encode_key(GroupKey("grp")) == b"\x00\x02\x00\x03grp"


def test_exact_bytes_of_a_group_record() -> None:
    member = StoredMember("m", None, "c", "/h", 300, 100, b"S", b"")
    value = encode_group_value(GroupValue("consumer", 2, "range", "m", 9, (member,)))
    expected = (
        struct.pack(">h", 3)
        + struct.pack(">h", 8) + b"consumer"
        + struct.pack(">i", 2)
        + struct.pack(">h", 5) + b"range"
        + struct.pack(">h", 1) + b"m"
        + struct.pack(">q", 9)
        + struct.pack(">i", 1)
        + struct.pack(">h", 1) + b"m"
        + struct.pack(">h", -1)
        + struct.pack(">h", 1) + b"c"
        + struct.pack(">h", 2) + b"/h"
        + struct.pack(">ii", 300, 100)
        + struct.pack(">i", 1) + b"S"
        + struct.pack(">i", 0)
    )
    assert value == expected


def test_older_value_versions_are_read() -> None:
    v0 = struct.pack(">hq", 0, 42) + struct.pack(">h", 2) + b"md" + struct.pack(">q", 77)
    assert decode_offset_value(v0) == OffsetValue(42, -1, "md", 77)
    v1 = struct.pack(">hq", 1, 42) + struct.pack(">h", 0) + struct.pack(">qq", 77, 99)
    assert decode_offset_value(v1) == OffsetValue(42, -1, "", 77)
    g0 = (
        struct.pack(">h", 0) + struct.pack(">h", 1) + b"c" + struct.pack(">i", 4)
        + struct.pack(">h", -1) + struct.pack(">h", -1) + struct.pack(">i", 1)
        + struct.pack(">h", 1) + b"m" + struct.pack(">h", 1) + b"x" + struct.pack(">h", 1) + b"h"
        + struct.pack(">i", 500) + struct.pack(">i", -1) + struct.pack(">i", 2) + b"as"
    )
    assert decode_group_value(g0) == GroupValue(
        "c", 4, None, None, -1, (StoredMember("m", None, "x", "h", 500, 500, b"", b"as"),)
    )


def test_malformed_records_are_refused_precisely() -> None:
    value = encode_offset_value(OffsetValue(1, 2, "meta", 3))
    with pytest.raises(RecordFormatError, match="remain"):
        decode_offset_value(value[:-1])
    with pytest.raises(RecordFormatError, match="version 9"):
        decode_offset_value(b"\x00\x09" + value[2:])
    group = encode_group_value(GroupValue("c", 1, "r", "m", 0, ()))
    with pytest.raises(RecordFormatError, match="member count"):
        decode_group_value(group[:-4] + struct.pack(">i", 10**6))
    assert decode_key(struct.pack(">h", 3) + b"anything") is None


def java_hash_oracle(text: str) -> int:
    h = ctypes.c_int32(0)
    for unit in array.array("H", text.encode("utf-16-le")):
        h = ctypes.c_int32(31 * h.value + unit)
    return h.value


@given(st.text(max_size=30))
def test_java_string_hash_matches_int32_arithmetic(text: str) -> None:
    assert java_string_hash(text) == java_hash_oracle(text)


def test_partition_for_known_values() -> None:
    assert java_string_hash("hello") == 99162322
    assert partition_for("hello", 50) == 99162322 % 50
    assert java_string_hash("Aa") == java_string_hash("BB")
    # Its hash is Integer.MIN_VALUE, which Kafka's abs maps to 0.
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert partition_for("polygenelubricants", 7) == 0
    # A negative hash is negated, not masked: masking would give partition 38.
    assert java_string_hash("analytics") == -1693017210
    assert partition_for("analytics", 50) == 10
    assert partition_for("\U0001f600", 1000) == (31 * 0xD83D + 0xDE00) % 1000
    with pytest.raises(ValueError):
        partition_for("g", 0)


def test_compaction_keeps_the_last_record_per_key_in_place() -> None:
    records = [(b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"c", b"1"), (b"b", None)]
    assert compact(records) == [(b"a", b"2"), (b"c", b"1"), (b"b", None)]
    assert compact(records, drop_tombstones=True) == [(b"a", b"2"), (b"c", b"1")]
    timed = [(b"a", None, 100), (b"b", None, 200), (b"c", b"x", 0)]
    kept = compact_timed(timed, now_ms=1100, delete_retention_ms=1000)
    assert kept == [(b"b", None, 200), (b"c", b"x", 0)]
