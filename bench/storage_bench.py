"""Storage throughput and start-up time: appends and reads on one partition, open after 1/4 GB.

Run: ``python -m bench.storage_bench`` from the repository root (``--quick``
for smaller volumes, ``--dir`` to choose where the data goes; it is deleted
afterwards).  Records are 100 bytes, batched 16 KiB or 1 MiB, uncompressed,
``flush.messages``/``flush.ms`` at Kafka's defaults (no fsync per append).
Append time includes validation (CRC-32C of every batch), offset assignment,
the write to the page cache and indexing.  Reads go through ``Log.read``
(index lookup and header walk) and copy the slice into a reusable buffer
with ``preadv``, as a fetch without sendfile would.  Start-up opens the
partition after a clean shutdown and after a crash with 64 MiB past the
recovery point.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import native
from broker.storage import Log, LogConfig

MIB = 1 << 20
RECORD = 100


def make_batch(target_bytes: int) -> bytearray:
    """A batch of 100-byte records about ``target_bytes`` long (native encoder, header packed)."""
    import struct

    count = max(1, (target_bytes - 61) // (RECORD + 6))
    value = os.urandom(RECORD)
    records = native.encode_records([value] * count)
    while count > 1 and 61 + len(records) > target_bytes:
        count -= max(1, (61 + len(records) - target_bytes) // (RECORD + 6))
        records = native.encode_records([value] * count)
    rest = (
        struct.pack(
            ">hiqqqhii", 0, count - 1, 1_700_000_000_000, 1_700_000_000_000, -1, -1, -1, count
        )
        + records
    )
    head = struct.pack(">qiibI", 0, 9 + len(rest), -1, 2, native.crc32c(rest))
    return bytearray(head + rest)


def append_run(
    directory: str, batch: bytearray, total: int, config: LogConfig
) -> tuple[float, int, Log]:
    log = Log(directory, config)
    count = total // len(batch)
    start = time.perf_counter()
    for _ in range(count):
        log.append_as_leader(batch, 0)
    elapsed = time.perf_counter() - start
    return elapsed, count, log


def read_run(log: Log, fetch_bytes: int) -> tuple[float, int]:
    buffer = bytearray(fetch_bytes + 2 * MIB)
    offset = log.log_start_offset
    done = 0
    start = time.perf_counter()
    end = log.log_end_offset
    while offset < end:
        result = log.read(offset, fetch_bytes)
        done += result.readinto(buffer)
        # the next fetch starts after the last batch returned, as a consumer's does
        tail = native.scan_batches(
            memoryview(buffer)[: result.length], strict=False, max_batches=1 << 30
        )
        offset = tail.batches[-1].base_offset + tail.batches[-1].last_offset_delta + 1
    return time.perf_counter() - start, done


def bench_throughput(root: str, quick: bool) -> list[tuple[str, str]]:
    rows = []
    config = LogConfig()
    for label, size, total in (("16 KiB", 16 * 1024, 256 * MIB), ("1 MiB", MIB, 1024 * MIB)):
        if quick:
            total //= 4
        batch = make_batch(size)
        records_per_batch = native.scan_batches(batch).batches[0].record_count
        best = None
        for attempt in range(3):
            directory = os.path.join(root, f"append-{attempt}-0")
            elapsed, count, log = append_run(directory, batch, total, config)
            if best is None or elapsed < best[0]:
                best = (elapsed, count)
            if attempt < 2:
                log.abandon()
                shutil.rmtree(directory)
        elapsed, count = best
        volume = count * len(batch)
        rows.append(
            (
                f"append {label} batches ({records_per_batch} x 100 B records)",
                f"{volume / elapsed / 1e6:8.0f} MB/s "
                f"{count * records_per_batch / elapsed / 1e6:6.2f} M rec/s",
            )
        )
        read_best = min(read_run(log, MIB) for _ in range(3))
        rows.append(
            (
                f"read {label} batches, 1 MiB fetches (page cache)",
                f"{read_best[1] / read_best[0] / 1e6:8.0f} MB/s",
            )
        )
        log.abandon()
        shutil.rmtree(os.path.join(root, "append-2-0"))
    return rows


def fill(directory: str, total: int) -> Log:
    """A log with ``total`` bytes of 1 MiB batches."""
    log = Log(directory, LogConfig())
    batch = make_batch(MIB)
    for _ in range(total // len(batch)):
        log.append_as_leader(batch, 0)
    return log


def bench_startup(root: str, quick: bool) -> list[tuple[str, str]]:
    rows = []
    sizes = (256 * MIB, 1024 * MIB) if quick else (1024 * MIB, 4096 * MIB)
    for total in sizes:
        directory = os.path.join(root, f"startup{total // MIB}-0")
        log = fill(directory, total)
        log.flush()
        point = log.recovery_point
        log.close()
        start = time.perf_counter()
        log = Log(directory, LogConfig())
        clean = time.perf_counter() - start
        read = log.recovery.stats.scanned + log.recovery.stats.headers
        rows.append(
            (
                f"open after clean shutdown, {total / 1e9:.1f} GB in {len(log.segments)} segments",
                f"{clean * 1e3:6.1f} ms, {read} bytes read",
            )
        )
        # a crash with 64 MiB appended after the last flush
        point = log.log_end_offset
        batch = make_batch(MIB)
        for _ in range(64):
            log.append_as_leader(batch, 0)
        log.abandon()
        start = time.perf_counter()
        log = Log(directory, LogConfig(), recovery_point=point)
        crash = time.perf_counter() - start
        stats = log.recovery.stats
        rows.append(
            (
                f"open after a crash, {total / 1e9:.1f} GB, 64 MiB past the recovery point",
                f"{crash * 1e3:6.1f} ms, scanned {stats.scanned / MIB:.1f} MiB "
                f"+ {stats.headers} header bytes",
            )
        )
        log.close()
        shutil.rmtree(directory)
    return rows


def main() -> None:
    """Run the storage benchmarks and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes")
    parser.add_argument("--dir", default=None, help="directory for the data (default: a temp dir)")
    parser.add_argument("--only", choices=["throughput", "startup"], default=None)
    args = parser.parse_args()
    native.require_compiled()
    root = tempfile.mkdtemp(prefix="storage-bench-", dir=args.dir)
    try:
        rows = []
        if args.only in (None, "throughput"):
            rows += bench_throughput(root, args.quick)
        if args.only in (None, "startup"):
            rows += bench_startup(root, args.quick)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
