"""Records decoded through the native decoder: kafka-python's batches, errors that say where."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import native
from client.records import (
    Compression,
    Record,
    RecordsError,
    TimestampType,
    compress,
    decode_batches,
)
from client.records.batch import decode_batch, decode_batch_columns
from client.records.builder import assemble_batch
from client.records.record import decode_records
from unit.records.oracle import kp_build, kp_read

pytestmark = pytest.mark.usefixtures("kafka_python_snappy")

optional_bytes = st.none() | st.binary(max_size=120)
header_lists = st.lists(st.tuples(st.text(max_size=8), optional_bytes), max_size=3)
kafka_python_rows = st.lists(
    st.tuples(
        st.integers(0, 2**42),  # kafka-python takes non-negative timestamps
        optional_bytes,
        optional_bytes,
        header_lists,
    ),
    min_size=1,
    max_size=30,
)


@given(rows=kafka_python_rows, codec=st.sampled_from(Compression))
def test_kafka_python_batches_decode_as_kafka_python_reads_them(
    rows: list, codec: Compression
) -> None:
    buf = kp_build(rows, codec)
    [batch] = decode_batches(buf)
    [theirs] = kp_read(buf)
    assert batch.records == theirs["records"]
    assert batch.records == [
        Record(i, ts, key, value, headers) for i, (ts, key, value, headers) in enumerate(rows)
    ]


def varint(value: int) -> bytes:
    zz = (value << 1) ^ (value >> 63)
    out = bytearray()
    while zz >= 0x80:
        out.append((zz & 0x7F) | 0x80)
        zz >>= 7
    return bytes(out + bytes([zz]))


def _record(body: bytes) -> bytes:
    return varint(len(body)) + body


def _batch(section: bytes, count: int, *, attributes: int = 0, base_timestamp: int = 0,
           max_timestamp: int = 0) -> bytes:
    return assemble_batch(
        section,
        base_offset=100,
        partition_leader_epoch=0,
        attributes=attributes,
        last_offset_delta=count - 1,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        record_count=count,
    )


GOOD = _record(b"\x00\x00\x00\x02k\x02v\x00")  # 9 bytes: key b"k", value b"v", no headers


@pytest.mark.parametrize(
    ("section", "count", "message"),
    [
        (GOOD + GOOD[:-1], 2, r"record 1 \(byte 9 of the records section\): truncated"),
        (GOOD + b"\x00", 1, r"record 1 \(byte 9 of the records section\): trailing bytes"),
        (GOOD + _record(b"\x00\x00\x02\x03"), 2, r"record 1 \(byte 13 .*negative length"),
        (_record(b"\x00" + b"\xff" * 10 + b"\x01"), 1, r"record 0 \(byte 2 .*bad varint"),
        (_record(b"\x00\x00\x00\x02k\x02v\x00\x00"), 1, r"record 0 \(byte 9 .*length mismatch"),
        (_record(b"\x00\x00\x00\x02k\x04v"), 1, r"record 0 \(byte 6 .*past record end"),
        (
            GOOD + _record(b"\x00\x00\x02\x01\x01\x02\x04\xff\xfe\x00"),
            2,
            r"record 1 \(byte 17 of the records section\): header key is not UTF-8",
        ),
    ],
)
def test_malformed_records_name_the_record_and_byte(
    section: bytes, count: int, message: str
) -> None:
    with pytest.raises(RecordsError, match=r"batch 0 at byte 0: " + message):
        decode_batches(_batch(section, count))


def test_the_error_position_is_within_the_decompressed_section() -> None:
    section = GOOD + GOOD + b"\x7f"
    buf = _batch(compress(Compression.LZ4, section), 2, attributes=Compression.LZ4)
    with pytest.raises(RecordsError, match=r"record 2 \(byte 18 of the records section\)"):
        decode_batches(buf)


def test_log_append_time_ignores_record_timestamps_even_when_they_would_overflow() -> None:
    huge_delta = _record(b"\x00" + varint(2**62) + b"\x00\x02k\x02v\x00")
    buf = _batch(huge_delta, 1, attributes=0x08, base_timestamp=2**62, max_timestamp=1234)
    [batch] = decode_batches(buf)
    assert batch.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert batch.records == [Record(100, 1234, b"k", b"v", [])]
    with pytest.raises(RecordsError, match="out of range"):
        decode_batches(_batch(huge_delta, 1, base_timestamp=2**62))


@pytest.mark.parametrize(
    ("keys", "values"),
    [
        ([None] * 4, [b"a", b"", b"c", b"d"]),
        ([b"k", None, b"", None], [None, None, None, None]),
        ([b"", b"", b"", b""], [None, b"v", None, b""]),
    ],
)
def test_null_and_empty_keys_and_values_stay_apart(keys: list, values: list) -> None:
    rows = [(1000 + i, k, v, []) for i, (k, v) in enumerate(zip(keys, values))]
    [batch] = decode_batches(kp_build(rows))
    assert [r.key for r in batch.records] == keys
    assert [r.value for r in batch.records] == values
    assert all(type(r.key) in (bytes, type(None)) for r in batch.records)


def test_every_record_gets_a_headers_list_of_its_own() -> None:
    rows = [(1, b"k", b"v", []), (2, b"k", b"v", [("a", b"1"), ("b", None)]), (3, None, None, [])]
    [batch] = decode_batches(kp_build(rows))
    lists = [r.headers for r in batch.records]
    assert lists == [[], [("a", b"1"), ("b", None)], []]
    assert len({id(headers) for headers in lists}) == 3
    lists[0].append(("x", b"y"))
    assert batch.records[2].headers == []


def test_decode_batch_of_a_scanned_buffer_matches_decode_batches() -> None:
    rows = [(5, b"key", b"value", [("h", b"v")]), (6, None, b"x", [])]
    buf = kp_build(rows, Compression.GZIP) + kp_build(rows)
    scan = native.scan_batches(buf, strict=False)
    expected = decode_batches(buf)
    for info, batch in zip(scan.batches, expected):
        ours = decode_batch(memoryview(buf), info)
        assert ours.records == batch.records and ours.size == batch.size
        offsets, timestamps, keys, values, headers = decode_batch_columns(buf, info)
        assert list(zip(offsets, timestamps, keys, values, headers)) == batch.records


def test_decode_records_reads_a_memoryview_section() -> None:
    section = GOOD + _record(b"\x00\x00\x02\x02k\x02v\x00")  # offset delta 1
    records = decode_records(memoryview(b"??" + section)[2:], 2, 7, 50, None)
    assert records == [Record(7, 50, b"k", b"v", []), Record(8, 50, b"k", b"v", [])]
    assert all(type(r.key) is bytes for r in records)
