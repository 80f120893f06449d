"""Building record batch v2: many records encoded in one native call, then one header.

The records section is produced by ``native.encode_records`` from whole columns
(values, keys, timestamp deltas, pre-encoded headers), so no Python code runs
per record unless headers are given.  The header is packed once and its CRC-32C
is computed by the native core over the header tail and then the records
section, without joining them first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import repeat
from operator import sub

import native
from client.records.batch import (
    CRC_START,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    TIMESTAMP_TYPE_BIT,
    TRANSACTIONAL_BIT,
    TimestampType,
)
from client.records.compression import Compression, compress
from client.records.record import Header, encode_headers

__all__ = ["assemble_batch", "build_batch", "wall_clock_ms"]

INT32_MAX = 2**31 - 1


def wall_clock_ms() -> int:
    """Milliseconds since the epoch, the default record timestamp."""
    return time.time_ns() // 1_000_000


def build_batch(
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    headers: Sequence[Sequence[Header] | None] | None = None,
    timestamps: Sequence[int] | None = None,
    *,
    base_offset: int = 0,
    compression: Compression = Compression.NONE,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    partition_leader_epoch: int = -1,
    timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    now_ms: int | None = None,
    into: bytearray | None = None,
) -> bytes | memoryview:
    """One record batch v2 holding ``values`` (None = null value), ready to send.

    ``keys``, ``headers`` (per record: a list of (str, bytes|None) or None) and
    ``timestamps`` (ms) are parallel to ``values``.  Without timestamps every
    record gets ``now_ms``, which defaults to the wall clock.  Under
    LOG_APPEND_TIME the batch's maxTimestamp is ``now_ms`` (or the wall clock),
    which readers then report as every record's timestamp.  Records get offset
    deltas 0..n-1 from ``base_offset``.  ValueError/TypeError for bad arguments.
    ``into``: a bytearray to write an uncompressed batch into, returning a memoryview
    (see ``native.encode_batch``); compressed batches are bytes whatever it says.
    """
    if type(values) is not list and type(values) is not tuple:
        values = list(values)
    count = len(values)
    if count == 0:
        raise ValueError("a record batch needs at least one record")
    if count - 1 > INT32_MAX:
        raise ValueError(f"{count} records do not fit one batch")
    codec = Compression(compression)
    timestamp_type = TimestampType(timestamp_type)

    if timestamps is None:
        now = wall_clock_ms() if now_ms is None else now_ms
        base_timestamp = max_timestamp = now
        deltas = None
    else:
        if type(timestamps) is not list and type(timestamps) is not tuple:
            timestamps = list(timestamps)
        if len(timestamps) != count:
            raise ValueError(f"timestamps has {len(timestamps)} items, values has {count}")
        base_timestamp = timestamps[0]
        max_timestamp = max(timestamps)
        deltas = list(map(sub, timestamps, repeat(base_timestamp)))
    if timestamp_type is TimestampType.LOG_APPEND_TIME:
        max_timestamp = wall_clock_ms() if now_ms is None else now_ms

    header_sections = None
    if headers is not None:
        if len(headers) != count:
            raise ValueError(f"headers has {len(headers)} items, values has {count}")
        if any(headers):
            header_sections = list(map(encode_headers, headers))

    attributes = codec | (TIMESTAMP_TYPE_BIT if timestamp_type else 0)
    if transactional:
        attributes |= TRANSACTIONAL_BIT
    fields = {
        "base_offset": base_offset,
        "partition_leader_epoch": partition_leader_epoch,
        "attributes": attributes,
        "last_offset_delta": count - 1,
        "base_timestamp": base_timestamp,
        "max_timestamp": max_timestamp,
        "producer_id": producer_id,
        "producer_epoch": producer_epoch,
        "base_sequence": base_sequence,
        "record_count": count,
    }
    try:
        if codec is Compression.NONE:
            # header and records assembled in one buffer: one copy of the batch, not three
            header = _pack_header(batch_length=0, crc=0, **fields)
            return native.encode_batch(
                header, values, keys, deltas, header_sections, into=into
            )
        section = native.encode_records(values, keys, deltas, header_sections, 0)
    except native.NativeError as exc:
        raise ValueError(f"cannot encode records: {exc}") from None
    return assemble_batch(compress(codec, section), **fields)


def assemble_batch(
    section: bytes,
    *,
    base_offset: int,
    partition_leader_epoch: int,
    attributes: int,
    last_offset_delta: int,
    base_timestamp: int,
    max_timestamp: int,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    record_count: int,
) -> bytes:
    """A batch of header fields plus a records ``section`` (compressed if the codec bits say so).

    batchLength and the CRC are computed here; ValueError if a field overflows its width.
    """
    unsigned = _pack_header(
        base_offset=base_offset,
        batch_length=HEADER_SIZE - LOG_OVERHEAD + len(section),
        partition_leader_epoch=partition_leader_epoch,
        attributes=attributes,
        crc=0,  # known only once the rest is packed
        last_offset_delta=last_offset_delta,
        base_timestamp=base_timestamp,
        max_timestamp=max_timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        record_count=record_count,
    )
    crc = native.crc32c(section, native.crc32c(memoryview(unsigned)[CRC_START:]))
    crc_field = crc.to_bytes(4, "big")
    return b"".join((unsigned[: CRC_START - 4], crc_field, unsigned[CRC_START:], section))


def _pack_header(
    *,
    base_offset: int,
    batch_length: int,
    partition_leader_epoch: int,
    attributes: int,
    crc: int,
    last_offset_delta: int,
    base_timestamp: int,
    max_timestamp: int,
    producer_id: int,
    producer_epoch: int,
    base_sequence: int,
    record_count: int,
) -> bytes:
    """The 61-byte batch header; ValueError if a field overflows its width."""
    try:
        return HEADER.pack(
            base_offset,
            batch_length,
            partition_leader_epoch,
            MAGIC,
            crc,
            attributes,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            record_count,
        )
    except Exception as exc:  # struct.error: a field outside its integer width
        raise ValueError(f"batch header field out of range: {exc}") from None
