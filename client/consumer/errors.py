"""Failures particular to consuming, next to the broker-coded ones of ``client.errors``."""

from __future__ import annotations

from client.consumer.structs import TopicPartition
from client.errors import IllegalStateError, KafkaError

__all__ = [
    "CommitFailedError",
    "ConsumerStoppedError",
    "LogTruncationError",
    "NoOffsetForPartitionError",
    "RecordDecodeError",
]


class CommitFailedError(KafkaError):
    """The commit cannot succeed: the group rebalanced and these partitions may belong to
    another member now. Records since the last successful commit may be consumed again."""


class NoOffsetForPartitionError(KafkaError):
    """auto_offset_reset is "none" and a partition has no committed offset (or its position is
    out of range); ``partitions`` lists them. Seek to choose where to start."""

    def __init__(self, partitions: list[TopicPartition], message: str | None = None) -> None:
        self.partitions = partitions
        names = ", ".join(f"{tp.topic}-{tp.partition}" for tp in partitions)
        super().__init__(message or f"no offset to start from for {names}")


class LogTruncationError(KafkaError):
    """auto_offset_reset is "none" and the leader's log no longer holds what this consumer
    read: ``divergent`` maps each partition to the offset where the logs agree again."""

    def __init__(self, divergent: dict[TopicPartition, int]) -> None:
        self.divergent = divergent
        names = ", ".join(f"{tp.topic}-{tp.partition} at {o}" for tp, o in divergent.items())
        super().__init__(f"log truncation detected: {names}")


class RecordDecodeError(KafkaError):
    """Fetched bytes of ``partition`` at ``offset`` are not valid record batches. The error
    repeats until the application seeks past it."""

    def __init__(self, partition: TopicPartition, offset: int, reason: str) -> None:
        self.partition = partition
        self.offset = offset
        super().__init__(f"{partition.topic}-{partition.partition} at offset {offset}: {reason}")


class ConsumerStoppedError(IllegalStateError):
    """The consumer is closed, or was never started."""
