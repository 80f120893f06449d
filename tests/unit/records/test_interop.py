"""Byte-level interop with kafka-python: its batches decode with ours and ours with its reader."""

from __future__ import annotations

import random

import pytest

from client.records import Compression, Record, TimestampType, build_batch, decode_batches
from unit.records.oracle import Row, kp_build, kp_read

CODECS = [Compression.NONE, Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD]

pytestmark = pytest.mark.usefixtures("kafka_python_snappy")


def _rows(seed: int) -> list[Row]:
    """Compressible records covering null/empty keys and values, headers, out-of-order times."""
    rng = random.Random(seed)
    base = 1_700_000_000_000 + rng.randrange(10**6)
    rows: list[Row] = [
        (base, b"key-0", b"value " * 20, []),
        (base + 5, None, b"null key " * 10, [("trace", b"abc"), ("empty", b""), ("none", None)]),
        (base - 3, b"key-2", None, [("\u00e9t\u00e9", b"\x00\xff")]),
        (base + 2**20, b"", b"", []),
        (base + 1, b"k" * 300, bytes(rng.randrange(4) for _ in range(2000)), [("h", b"v" * 200)]),
    ]
    for i in range(40):
        rows.append((base + i, f"key-{i % 7}".encode(), f"payload {i} ".encode() * 5, []))
    return rows


def _expected(rows: list[Row]) -> list[Record]:
    return [Record(i, ts, key, value, headers) for i, (ts, key, value, headers) in enumerate(rows)]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_kafka_python_batches_decode_with_ours(codec: Compression) -> None:
    rows = _rows(int(codec))
    buf = kp_build(rows, codec, producer_id=42, producer_epoch=3, base_sequence=17)
    [batch] = decode_batches(buf)
    assert batch.compression is codec
    assert batch.records == _expected(rows)
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (42, 3, 17)
    assert batch.record_count == len(rows) and batch.last_offset == len(rows) - 1
    assert batch.max_timestamp == max(ts for ts, *_ in rows)
    assert batch.timestamp_type is TimestampType.CREATE_TIME
    assert not batch.is_transactional and not batch.is_control


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_our_batches_decode_with_kafka_python(codec: Compression) -> None:
    rows = _rows(10 + int(codec))
    timestamps, keys, values, headers = (list(column) for column in zip(*rows))
    buf = build_batch(
        values,
        keys,
        headers,
        timestamps,
        base_offset=1000,
        compression=codec,
        producer_id=7,
        producer_epoch=1,
        base_sequence=99,
        transactional=True,
        partition_leader_epoch=12,
    )
    [batch] = kp_read(buf)
    assert batch["compression"] == codec
    assert batch["base_offset"] == 1000 and batch["leader_epoch"] == 12
    assert batch["is_transactional"] and not batch["is_control"]
    assert (batch["producer_id"], batch["producer_epoch"], batch["base_sequence"]) == (7, 1, 99)
    assert batch["max_timestamp"] == max(timestamps)
    expected = [r._replace(offset=r.offset + 1000) for r in _expected(rows)]
    assert batch["records"] == expected


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_same_bytes_as_kafka_python_before_compression(codec: Compression) -> None:
    # Uncompressed, the two builders must agree byte for byte (kafka-python writes
    # leader epoch 0); compressed, the blocks may differ but decompress alike.
    rows = _rows(20 + int(codec))
    timestamps, keys, values, headers = (list(column) for column in zip(*rows))
    ours = build_batch(values, keys, headers, timestamps, partition_leader_epoch=0)
    theirs = kp_build(rows)
    assert ours == theirs
    compressed = build_batch(values, keys, headers, timestamps, compression=codec)
    assert decode_batches(compressed)[0].records == decode_batches(theirs)[0].records


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_one_mebibyte_values_both_ways(codec: Compression) -> None:
    rng = random.Random(5)
    big = rng.randbytes(512 * 1024) + b"z" * (512 * 1024)  # half incompressible
    rows: list[Row] = [(1, b"big", big, [("size", b"1MiB")]), (2, None, big[::-1], [])]
    [batch] = decode_batches(kp_build(rows, codec))
    assert batch.records == _expected(rows)
    ours = build_batch([big, big[::-1]], [b"big", None], [[("size", b"1MiB")], None], [1, 2],
                       compression=codec)
    assert kp_read(ours)[0]["records"] == _expected(rows)


def test_several_batches_in_one_buffer_both_ways() -> None:
    first = kp_build(_rows(1), Compression.GZIP)
    second = build_batch([b"a", b"b"], timestamps=[5, 6], base_offset=len(_rows(1)),
                         compression=Compression.LZ4)
    decoded = decode_batches(first + second)
    assert [b.base_offset for b in decoded] == [0, len(_rows(1))]
    assert [r.offset for r in decoded[1].records] == [len(_rows(1)), len(_rows(1)) + 1]
    read_back = kp_read(first + second)
    assert [b["records"] for b in read_back] == [b.records for b in decoded]


def test_log_append_time_records_report_the_batch_time() -> None:
    buf = build_batch([b"a", b"b"], timestamps=[10, 20], now_ms=5000,
                      timestamp_type=TimestampType.LOG_APPEND_TIME)
    [ours] = decode_batches(buf)
    [theirs] = kp_read(buf)
    assert ours.timestamp_type is TimestampType.LOG_APPEND_TIME
    assert theirs["timestamp_type"] == 1
    assert [r.timestamp for r in ours.records] == [5000, 5000]
    assert [r.timestamp for r in theirs["records"]] == [5000, 5000]
