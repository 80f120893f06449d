"""Record batch v2: the header layout, attribute bits, and decoding of whole batches.

The grammar, in the order the bytes appear (big-endian)::

    RecordBatch =>
      baseOffset            int64   offset of the first record; the broker assigns it
      batchLength           int32   bytes that follow this field
      partitionLeaderEpoch  int32   set by the leader that appended the batch
      magic                 int8    2
      crc                   uint32  CRC-32C of everything from attributes to the end
      attributes            int16   see the *_BIT / CODEC_MASK constants
      lastOffsetDelta       int32   offset delta of the last record
      baseTimestamp         int64   timestamp of the first record
      maxTimestamp          int64   largest record timestamp (log append time under LogAppendTime)
      producerId            int64   -1 without idempotence
      producerEpoch         int16
      baseSequence          int32   sequence number of the first record, -1 without one
      recordCount           int32
      records               Record* the records section, one block compressed as a whole
                                    when the codec bits are set (see ``record``)

Because the CRC starts at ``attributes``, baseOffset and partitionLeaderEpoch
can be rewritten in place without touching it.  Validation of lengths, magic,
CRC and record count is done by the native scanner; this module turns what it
reports into ``RecordBatch`` objects and parses the records.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from itertools import repeat

import native
from client.records.compression import Compression, decompress
from client.records.errors import RecordsError
from client.records.record import Record, RecordColumns, decode_columns

__all__ = ["RecordBatch", "TimestampType", "decode_batch", "decode_batch_columns", "decode_batches"]

HEADER = struct.Struct(
    ">"
    "q"  # baseOffset
    "i"  # batchLength
    "i"  # partitionLeaderEpoch
    "b"  # magic
    "I"  # crc
    "h"  # attributes
    "i"  # lastOffsetDelta
    "q"  # baseTimestamp
    "q"  # maxTimestamp
    "q"  # producerId
    "h"  # producerEpoch
    "i"  # baseSequence
    "i"  # recordCount
)
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = struct.calcsize(">qi")  # baseOffset + batchLength: not counted in batchLength
CRC_OFFSET = struct.calcsize(">qiib")  # 17
CRC_START = CRC_OFFSET + 4  # attributes: the first byte the CRC covers
MAGIC = 2

CODEC_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40

assert HEADER_SIZE == 61 and CRC_OFFSET == 17 and CRC_START == 21

_tuple_new = tuple.__new__


class TimestampType(IntEnum):
    """Bit 3 of the attributes: who set the record timestamps."""

    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class RecordBatch:
    """One decoded record batch: its header fields and its records."""

    __slots__ = (
        "base_offset",
        "partition_leader_epoch",
        "crc",
        "attributes",
        "last_offset_delta",
        "base_timestamp",
        "max_timestamp",
        "producer_id",
        "producer_epoch",
        "base_sequence",
        "record_count",
        "size",
        "records",
    )

    def __init__(self, info: native.BatchInfo, records: list[Record]) -> None:
        self.base_offset: int = info.base_offset
        self.partition_leader_epoch: int = info.partition_leader_epoch
        self.crc: int = info.crc
        self.attributes: int = info.attributes
        self.last_offset_delta: int = info.last_offset_delta
        self.base_timestamp: int = info.base_timestamp
        self.max_timestamp: int = info.max_timestamp
        self.producer_id: int = info.producer_id
        self.producer_epoch: int = info.producer_epoch
        self.base_sequence: int = info.base_sequence
        self.record_count: int = info.record_count
        self.size: int = info.size  # bytes on the wire, header included
        self.records: list[Record] = records

    @property
    def compression(self) -> Compression:
        """The codec of the records section."""
        return Compression(self.attributes & CODEC_MASK)

    @property
    def timestamp_type(self) -> TimestampType:
        """CREATE_TIME, or LOG_APPEND_TIME when the broker stamped the batch."""
        return TimestampType(bool(self.attributes & TIMESTAMP_TYPE_BIT))

    @property
    def is_transactional(self) -> bool:
        """Whether the batch belongs to a transaction."""
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        """Whether the batch holds a transaction marker rather than data."""
        return bool(self.attributes & CONTROL_BIT)

    @property
    def last_offset(self) -> int:
        """Offset of the batch's last record (baseOffset + lastOffsetDelta)."""
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        """The offset that follows this batch."""
        return self.base_offset + self.last_offset_delta + 1

    def __repr__(self) -> str:
        return (
            f"RecordBatch(base_offset={self.base_offset}, record_count={self.record_count}, "
            f"compression={self.compression.name}, attributes={self.attributes:#x}, "
            f"producer_id={self.producer_id}, base_sequence={self.base_sequence})"
        )


def decode_batches(
    buf: bytes | bytearray | memoryview, *, allow_partial: bool = False
) -> list[RecordBatch]:
    """Every record batch in ``buf``, records decoded and decompressed.

    Raises RecordsError for any invalid batch: bad length, magic, CRC or record
    count, undecodable compressed data, or records that do not match the
    header.  With ``allow_partial`` a batch cut short at the end of ``buf`` is
    ignored instead, as consumers do with a fetch response cut at its size limit.
    Record counts below lastOffsetDelta + 1 are accepted: compaction leaves them.
    """
    view = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
    try:
        scan = native.scan_batches(view, strict=False)
    except (TypeError, ValueError) as exc:
        raise RecordsError(f"cannot scan record batches: {exc}") from None
    error = scan.error
    if error is not None and not (allow_partial and error.reason == "truncated"):
        raise RecordsError(
            f"batch {error.batch_index}: {error.reason.replace('_', ' ')} at byte {error.position}"
        )
    batches = []
    for index, info in enumerate(scan.batches):
        try:
            batches.append(decode_batch(view, info))
        except RecordsError as exc:
            raise RecordsError(f"batch {index} at byte {info.position}: {exc}") from None
    return batches


def decode_batch(view: bytes | memoryview, info: native.BatchInfo) -> RecordBatch:
    """The batch that ``native.scan_batches`` reported as ``info`` in ``view``, records decoded.

    For callers that scanned (and so CRC-checked) the buffer already; raises
    RecordsError when the records section does not decode.
    """
    columns = decode_batch_columns(view, info)
    return RecordBatch(info, list(map(_tuple_new, repeat(Record), zip(*columns))))


def decode_batch_columns(view: bytes | memoryview, info: native.BatchInfo) -> RecordColumns:
    """The records of the scanned batch ``info`` in ``view`` as columns, decompressed first.

    Offsets and timestamps are absolute (LogAppendTime batches give every
    record the batch's maxTimestamp).  Raises RecordsError when the records
    section does not decode.
    """
    attributes = info.attributes
    codec = attributes & CODEC_MASK
    section = memoryview(view)[info.position + HEADER_SIZE : info.position + info.size]
    if codec:
        if codec > Compression.ZSTD:
            raise RecordsError(f"unknown compression codec {codec}")
        data: bytes | memoryview = decompress(codec, section)
    else:
        data = section
    fixed = info.max_timestamp if attributes & TIMESTAMP_TYPE_BIT else None
    return decode_columns(data, info.record_count, info.base_offset, info.base_timestamp, fixed)
