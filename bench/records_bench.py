"""Record batch throughput: build_batch, decode_batches and murmur2, against kafka-python.

Run: ``python -m bench.records_bench`` (``--quick`` for fewer repeats).  Each
figure is the best of several timed rounds.  Values are 100 bytes of hex text
(compressible about two to one, like typical JSON payloads); keys are short
strings.  kafka-python's builder and reader are timed on the same records
(not for snappy unless python-snappy is installed).  The timing switches the
garbage collector off, as timeit does: in an application its collections of
the young records add to every decoder's figure.
"""

from __future__ import annotations

import argparse
import os

import kafka.codec
from kafka.partitioner.default import murmur2 as kafka_python_murmur2
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

import native
from bench.native_bench import best_seconds
from client.records import Compression, build_batch, decode_batches, murmur2, partitioner

RECORDS = 1000
VALUE_SIZE = 100
TIMESTAMP = 1_700_000_000_000


def kafka_python_build(values: list[bytes], keys: list[bytes], codec: int) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 30,
    )
    for offset, (key, value) in enumerate(zip(keys, values)):
        builder.append(offset, timestamp=TIMESTAMP, key=key, value=value, headers=[])
    return bytes(builder.build())


def kafka_python_decode(buf: bytes) -> int:
    count = 0
    records = MemoryRecords(buf)
    while records.has_next():
        for _record in records.next_batch():
            count += 1
    return count


def bench_batches(rounds: int) -> list[tuple[str, str]]:
    values = [os.urandom(VALUE_SIZE // 2).hex().encode() for _ in range(RECORDS)]
    keys = [b"user-%d" % i for i in range(RECORDS)]
    rows = []
    for codec in Compression:
        build = lambda: build_batch(values, keys, now_ms=TIMESTAMP, compression=codec)  # noqa: E731
        buf = build()
        assert len(decode_batches(buf)[0].records) == RECORDS
        cases = [("build_batch", build), ("decode_batches", lambda: decode_batches(buf))]
        if codec is not Compression.SNAPPY or kafka.codec.has_snappy():
            theirs = kafka_python_build(values, keys, codec)
            cases += [
                ("kafka-python build", lambda: kafka_python_build(values, keys, codec)),
                ("kafka-python decode", lambda: kafka_python_decode(theirs)),
            ]
        for name, call in cases:
            seconds = best_seconds(call, rounds)
            rows.append(
                (
                    f"{name} {RECORDS} x {VALUE_SIZE} B, keyed, {codec.name.lower()}",
                    f"{RECORDS / seconds:,.0f} records/s",
                )
            )
    return rows


def bench_headers(rounds: int) -> list[tuple[str, str]]:
    """Decoding when every record carries headers (a second bulk cut, keys decoded as UTF-8)."""
    values = [os.urandom(VALUE_SIZE // 2).hex().encode() for _ in range(RECORDS)]
    headers = [[("trace-id", os.urandom(8)), ("source", b"bench")] for _ in range(RECORDS)]
    ours = build_batch(values, None, headers, now_ms=TIMESTAMP)
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=0, is_transactional=0, producer_id=-1, producer_epoch=-1,
        base_sequence=-1, batch_size=1 << 30,
    )
    for offset, (value, record_headers) in enumerate(zip(values, headers)):
        builder.append(offset, timestamp=TIMESTAMP, key=None, value=value, headers=record_headers)
    theirs = bytes(builder.build())
    assert decode_batches(ours)[0].records[-1].headers == headers[-1]
    rows = []
    for name, call in (
        ("decode_batches", lambda: decode_batches(ours)),
        ("kafka-python decode", lambda: kafka_python_decode(theirs)),
    ):
        seconds = best_seconds(call, rounds)
        rows.append(
            (
                f"{name} {RECORDS} x {VALUE_SIZE} B, 2 headers each, none",
                f"{RECORDS / seconds:,.0f} records/s",
            )
        )
    return rows


def bench_murmur2(rounds: int) -> list[tuple[str, str]]:
    rows = []
    for size in (8, 16, 36, 100):
        keys = [os.urandom(size) for _ in range(1000)]
        for name, function in (
            ("murmur2, new keys", partitioner._hash),  # what a key not seen before costs
            ("murmur2, repeated keys", murmur2),
            ("kafka-python murmur2", kafka_python_murmur2),
        ):
            seconds = best_seconds(lambda: list(map(function, keys)), rounds)
            rows.append((f"{name}, {size} B", f"{seconds / len(keys) * 1e9:,.0f} ns/key"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed rounds")
    args = parser.parse_args()
    native.require_compiled()
    rounds = 3 if args.quick else 7
    rows = bench_batches(rounds) + bench_headers(rounds) + bench_murmur2(rounds)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>18}")


if __name__ == "__main__":
    main()
