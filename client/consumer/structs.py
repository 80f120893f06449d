"""Small value types the consumer hands to and takes from its users.

``TopicPartition`` is a named 2-tuple, so ``("orders", 3)`` and ``TopicPartition("orders", 3)``
compare and hash alike and either may be passed wherever a partition is expected.
"""

from __future__ import annotations

from typing import NamedTuple


class TopicPartition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


class OffsetAndMetadata(NamedTuple):
    """A committed position: the next offset to consume, its leader epoch and free text.

    ``leader_epoch`` is the epoch of the record before ``offset`` (-1 when unknown); a consumer
    that resumes from this commit uses it to detect a log that was truncated meanwhile.
    """

    offset: int
    metadata: str = ""
    leader_epoch: int = -1


class OffsetAndTimestamp(NamedTuple):
    """The earliest offset whose timestamp is at or after a searched-for time."""

    offset: int
    timestamp: int
    leader_epoch: int = -1


def as_topic_partition(value: TopicPartition | tuple[str, int]) -> TopicPartition:
    """``value`` as a TopicPartition; raises TypeError for anything but a (str, int) pair."""
    if isinstance(value, TopicPartition):
        return value
    try:
        topic, partition = value
    except (TypeError, ValueError):
        raise TypeError(f"expected a (topic, partition) pair, got {value!r}") from None
    if not isinstance(topic, str) or not isinstance(partition, int) or isinstance(partition, bool):
        raise TypeError(f"expected a (topic: str, partition: int) pair, got {value!r}")
    return TopicPartition(topic, partition)
