"""Record batches for storage tests, built from the native record encoder and a packed header."""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

import native
from broker.storage import Log

BASE_TS = 1_700_000_000_000
_AFTER_CRC = struct.Struct(">hiqqqhii")
_FRONT = struct.Struct(">qiibI")


def make_batch(
    values: Sequence[bytes],
    *,
    base_ts: int = BASE_TS,
    ts_deltas: Sequence[int] | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    epoch: int = -1,
    base_offset: int = 0,
) -> bytes:
    """One uncompressed v2 batch of ``values`` (CRC computed; offsets/epoch as given)."""
    records = native.encode_records(list(values), timestamp_deltas=ts_deltas)
    n = len(values)
    max_ts = base_ts + (max(ts_deltas) if ts_deltas else 0)
    rest = (
        _AFTER_CRC.pack(0, n - 1, base_ts, max_ts, producer_id, producer_epoch, base_sequence, n)
        + records
    )
    return _FRONT.pack(base_offset, 9 + len(rest), epoch, 2, native.crc32c(rest)) + rest


def small_batches(
    count: int, records: int = 2, size: int = 20, *, start_ts: int = BASE_TS
) -> list[bytes]:
    """``count`` small batches with increasing timestamps (one ms per record)."""
    out = []
    ts = start_ts
    for _ in range(count):
        values = [os.urandom(size) for _ in range(records)]
        out.append(make_batch(values, base_ts=ts, ts_deltas=list(range(records))))
        ts += records
    return out


def snapshot_files(directory: str) -> dict[str, bytes]:
    """Name -> contents of every file in ``directory`` (to compare rebuilds)."""
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def read_all(log: Log, start: int | None = None) -> bytes:
    """Every batch from ``start`` (the log start) to the log end, one read per segment."""
    offset = log.log_start_offset if start is None else start
    out = bytearray()
    while offset < log.log_end_offset:
        result = log.read(offset, 1 << 30)
        data = result.to_bytes()
        assert data, f"empty read at {offset}"
        out += data
        last = offset
        for info in native.scan_batches(data, strict=False).batches:
            last = info.base_offset + info.last_offset_delta
        offset = last + 1
    return bytes(out)


def bytes_from_segment_of(directory: str, offset: int) -> int:
    """Bytes of the ``.log`` files from the segment holding ``offset`` on: what a crash
    recovery from recovery point ``offset`` reads (that segment whole, and every later one)."""
    bases = sorted(int(name[:20]) for name in os.listdir(directory) if name.endswith(".log"))
    first = max(base for base in bases if base <= offset)
    paths = [os.path.join(directory, f"{base:020d}.log") for base in bases if base >= first]
    return sum(map(os.path.getsize, paths))
