"""The storage layer's exceptions: one family, each carrying what the broker needs to answer.

Every exception here is a ``StorageError``.  The broker maps them to Kafka
error codes: ``InvalidRecordsError`` -> CORRUPT_MESSAGE (or INVALID_RECORD),
``OffsetOutOfRangeError`` -> OFFSET_OUT_OF_RANGE, ``LogClosedError`` ->
NOT_LEADER_OR_FOLLOWER / KAFKA_STORAGE_ERROR, ``RecordTooLargeError`` ->
MESSAGE_TOO_LARGE.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error raised by ``broker.storage``."""


class InvalidRecordsError(StorageError):
    """An append refused because its input is not a run of valid record batches.

    Nothing was written.  ``batch_index`` is the zero-based index of the first
    bad batch in the input, ``position`` the first offending byte of the input,
    ``reason`` a short machine-readable word (``truncated``, ``bad_length``,
    ``bad_magic``, ``bad_crc``, ``bad_record_count``, ``empty``,
    ``non_monotonic_offsets``, ``offset_overflow``).
    """

    def __init__(self, batch_index: int, position: int, reason: str, detail: str = "") -> None:
        self.batch_index = batch_index
        self.position = position
        self.reason = reason
        message = f"invalid record batch {batch_index} at byte {position}: {reason}"
        super().__init__(f"{message} ({detail})" if detail else message)


class RecordTooLargeError(StorageError):
    """An append larger than the segment size allows (``segment.bytes``)."""


class OffsetOutOfRangeError(StorageError):
    """A read, truncation or deletion asked for an offset outside [log start, log end]."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset
        super().__init__(
            f"offset {offset} is outside the log's range [{log_start_offset}, {log_end_offset}]"
        )


class LogClosedError(StorageError):
    """The log (or its manager) was closed or deleted; no further calls are allowed."""


class CorruptFileError(StorageError):
    """A checkpoint, snapshot or index file that cannot be parsed (the caller rebuilds)."""


class OutOfOrderSequenceError(StorageError):
    """An idempotent producer's batch does not follow its previous one (a batch was lost)."""


class ProducerFencedError(StorageError):
    """An idempotent producer's epoch is older than the log's (INVALID_PRODUCER_EPOCH)."""
