"""Partition storage in Kafka's on-disk layout; files only, nothing of the network.

``LogManager`` holds the partitions of a broker under ``log.dirs``; ``Log`` is
one partition (segments, indexes, leader epochs, producer state, recovery);
``LogSegment`` one segment's files.  The append and read paths work on whole
record batches validated by the native core; records are never decoded there.
"""

from __future__ import annotations

from broker.storage.config import LogConfig
from broker.storage.epochs import LeaderEpochCache
from broker.storage.errors import (
    CorruptFileError,
    InvalidRecordsError,
    LogClosedError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceError,
    ProducerFencedError,
    RecordTooLargeError,
    StorageError,
)
from broker.storage.log import AppendInfo, FileSlice, FlushTask, Log, ReadResult, RecoveryReport
from broker.storage.manager import LogManager
from broker.storage.producer_state import ProducerCheck, ProducerStateManager, SequenceStatus
from broker.storage.segment import LogSegment

__all__ = [
    "AppendInfo",
    "CorruptFileError",
    "FlushTask",
    "InvalidRecordsError",
    "LeaderEpochCache",
    "Log",
    "LogClosedError",
    "LogConfig",
    "LogManager",
    "LogSegment",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceError",
    "ProducerCheck",
    "ProducerFencedError",
    "ProducerStateManager",
    "FileSlice",
    "ReadResult",
    "RecordTooLargeError",
    "RecoveryReport",
    "SequenceStatus",
    "StorageError",
]
