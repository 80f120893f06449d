"""The values the native core hands back, shared by the compiled path and the twins.

A record batch v2 header, as the scanner reports it (offsets are within the batch)::

    0  baseOffset            i64    <- patched in place by assign_offsets
    8  batchLength           i32    bytes after this field; batch size = 12 + batchLength
    12 partitionLeaderEpoch  i32    <- patched in place by assign_offsets
    16 magic                 i8     must be 2
    17 crc                   u32    CRC-32C of bytes 21 .. end of batch
    21 attributes            i16
    23 lastOffsetDelta       i32
    27 baseTimestamp         i64
    35 maxTimestamp          i64
    43 producerId            i64
    51 producerEpoch         i16
    53 baseSequence          i32
    57 recordCount           i32
    61 records ...
"""

from __future__ import annotations

from array import array
from typing import NamedTuple

HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the bytes not counted by batchLength
MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD  # 49
# length varint, attributes, then five varints (timestampDelta, offsetDelta,
# key length, value length, header count) of one byte at least
MIN_RECORD_SIZE = 7

LENGTH_OFFSET = 8
EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
CRC_START = 21  # attributes: the first byte the CRC covers
LAST_OFFSET_DELTA_OFFSET = 23
RECORD_COUNT_OFFSET = 57

# Scan failure reasons, in the order of the C codes (code = index + 1).
REASONS = ("truncated", "bad_length", "bad_magic", "bad_crc", "bad_record_count")

# Record decoding failure reasons, in the order of the C codes (code = index + 1).
DECODE_REASONS = (
    "truncated",  # a record's length goes past the end of the section
    "bad_varint",  # a varint longer than its type allows (5 bytes / 32 bits, 10 / 64)
    "negative_length",  # a length below -1, or below 0 where null is not allowed
    "past_record_end",  # a field goes past the end of its record
    "record_length_mismatch",  # the fields end before the record's length says
    "trailing_bytes",  # bytes left after the last record
    "out_of_range",  # a base offset or timestamp plus its delta leaves the int64 range
)


class NativeError(ValueError):
    """Input the native core refuses (the single error type of its C functions)."""


class RecordDecodeError(NativeError):
    """A records section that ``decode_records`` refuses: which record, which byte, why."""

    def __init__(self, record: int, position: int, reason: str) -> None:
        super().__init__(f"record {record}: {reason.replace('_', ' ')} at byte {position}")
        self.record = record  # index of the record that failed
        self.position = position  # first byte of the field that failed, within the section
        self.reason = reason  # one of DECODE_REASONS


class DecodedRecords(NamedTuple):
    """The records of a section as parallel int64 arrays (typecode "q"), one item per record.

    ``offsets`` and ``timestamps`` are the bases given to ``decode_records``
    plus each record's offsetDelta and timestampDelta (the deltas themselves
    when the bases are 0).  Positions are byte offsets into the decoded section; a length of -1 is a
    null key or value (its start is where it would have begun).  ``headers``
    is flat: four items per header (key start, key length, value start, value
    length), the headers of record 0 first; ``header_counts`` says how many
    belong to each record.
    """

    offsets: array
    timestamps: array
    key_starts: array
    key_lengths: array
    value_starts: array
    value_lengths: array
    header_counts: array
    headers: array


class BatchInfo(NamedTuple):
    """Header fields of one valid record batch found by ``scan_batches``."""

    position: int  # byte offset of the batch in the scanned buffer
    size: int  # whole batch, 12 + batchLength
    base_offset: int
    last_offset_delta: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def last_offset(self) -> int:
        """Offset of the batch's last record (baseOffset + lastOffsetDelta)."""
        return self.base_offset + self.last_offset_delta


class ScanError(NamedTuple):
    """Why scanning stopped before the end of the buffer."""

    position: int  # first invalid byte (crc field for bad_crc, batch start for truncated)
    batch_index: int  # index the invalid batch would have had
    reason: str  # one of REASONS


class ScanResult(NamedTuple):
    """Outcome of ``scan_batches``: valid batches, where they end, and the first problem."""

    batches: list[BatchInfo]
    valid_bytes: int  # end of the last valid batch
    error: ScanError | None
