"""Native core throughput: CRC-32C, batch scanning, record encoding, index search.

Run: ``python -m bench.native_bench`` (``--quick`` for fewer repeats).  Each
figure is the best of several timed rounds (as ``timeit`` advises: slower
rounds measure other load on the machine, not the code), and includes the
Python wrapper around each C call.  Peers are timed the same way: the
``crc32c`` package for the CRC, kafka-python's ``DefaultRecordBatchBuilder``
for the encoder.
"""

from __future__ import annotations

import argparse
import os
import timeit
from collections.abc import Callable

import crc32c as crc32c_package
from kafka.record.default_records import DefaultRecordBatchBuilder

import native
from native._rillet import lib

MIB = 1 << 20
VALUE_SIZE = 100


def best_seconds(function: Callable[[], object], rounds: int, min_time: float = 0.05) -> float:
    """Seconds per call: best round, each round long enough to time reliably."""
    number = 1
    while timeit.timeit(function, number=number) < min_time:
        number *= 2
    return min(timeit.repeat(function, number=number, repeat=rounds)) / number


def kafka_python_batch(values: list[bytes]) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 30,
    )
    for offset, value in enumerate(values):
        builder.append(
            offset, timestamp=1_700_000_000_000 + offset, key=None, value=value, headers=[]
        )
    return bytes(builder.build())


def bench_crc(rounds: int) -> list[tuple[str, str]]:
    data = os.urandom(MIB)
    rows = []
    for name, function in (
        (
            "native.crc32c" + (" (SSE4.2)" if native.HARDWARE_CRC else " (table)"),
            lambda: native.crc32c(data),
        ),
        ("crc32c package", lambda: crc32c_package.crc32c(data)),
        ("native table fallback (slicing-by-8)", lambda: lib.rl_crc32c_sw(0, data, MIB)),
    ):
        rows.append(
            (f"CRC-32C 1 MiB, {name}", f"{MIB / best_seconds(function, rounds) / 1e9:.2f} GB/s")
        )
    small = os.urandom(1000)
    seconds = best_seconds(lambda: native.crc32c(small), rounds)
    rows.append(
        ("CRC-32C 1000 B, native.crc32c (call overhead included)", f"{seconds * 1e9:.0f} ns/call")
    )
    return rows


def bench_scan(rounds: int) -> list[tuple[str, str]]:
    rows = []
    for per_batch in (1, 10, 100, 1000):
        batch = kafka_python_batch([os.urandom(VALUE_SIZE) for _ in range(per_batch)])
        buf = batch * max(1, MIB // len(batch))
        result = native.scan_batches(buf)
        assert result.error is None and result.valid_bytes == len(buf)
        seconds = best_seconds(lambda: native.scan_batches(buf), rounds)
        rows.append(
            (
                f"scan_batches {len(buf) / MIB:.2f} MiB, {per_batch} x {VALUE_SIZE} B records/batch "
                f"({len(result.batches)} batches)",
                f"{len(buf) / seconds / 1e6:,.0f} MB/s",
            )
        )
    return rows


def bench_encode(rounds: int) -> list[tuple[str, str]]:
    rows = []
    for n in (100, 1000, 10000):
        values = [os.urandom(VALUE_SIZE) for _ in range(n)]
        keys = [b"key-%d" % i for i in range(n)]
        deltas = list(range(n))
        for label, call in (
            ("values only", lambda: native.encode_records(values)),
            ("keys + timestamp deltas", lambda: native.encode_records(values, keys, deltas)),
        ):
            seconds = best_seconds(call, rounds)
            rows.append(
                (f"encode_records {n} x {VALUE_SIZE} B, {label}", f"{n / seconds:,.0f} records/s")
            )
        with_none = list(values)
        with_none[n // 2] = None
        seconds = best_seconds(lambda: native.encode_records(with_none), rounds)
        rows.append(
            (
                f"encode_records {n} x {VALUE_SIZE} B, one null value",
                f"{n / seconds:,.0f} records/s",
            )
        )
    values = [os.urandom(VALUE_SIZE) for _ in range(1000)]
    seconds = best_seconds(lambda: kafka_python_batch(values), rounds)
    rows.append(
        (
            f"kafka-python DefaultRecordBatchBuilder 1000 x {VALUE_SIZE} B (append + build)",
            f"{1000 / seconds:,.0f} records/s",
        )
    )
    return rows


def bench_index(rounds: int) -> list[tuple[str, str]]:
    n = 100_000
    offset_index = b"".join(
        (i * 40).to_bytes(4, "big") + (i * 4096).to_bytes(4, "big") for i in range(n)
    )
    time_index = b"".join(
        (1_700_000_000_000 + i).to_bytes(8, "big") + i.to_bytes(4, "big") for i in range(n)
    )
    cases = [
        (
            "offset_index_lookup, 100k entries, cold part",
            lambda: native.offset_index_lookup(offset_index, n, 1_234_567),
        ),
        (
            "offset_index_lookup, 100k entries, warm tail",
            lambda: native.offset_index_lookup(offset_index, n, 40 * n - 7),
        ),
        (
            "time_index_lookup, 100k entries",
            lambda: native.time_index_lookup(time_index, n, 1_700_000_012_345),
        ),
    ]
    return [(name, f"{best_seconds(call, rounds) * 1e9:.0f} ns/lookup") for name, call in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed rounds")
    args = parser.parse_args()
    native.require_compiled()
    rounds = 3 if args.quick else 7
    rows = bench_crc(rounds) + bench_scan(rounds) + bench_encode(rounds) + bench_index(rounds)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>18}")


if __name__ == "__main__":
    main()
