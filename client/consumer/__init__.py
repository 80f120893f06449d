"""The SDK's consumer: group membership, assignors, prefetching fetcher, offsets.

``Consumer`` is the entry point (see ``client.consumer.consumer``); the rest is what it is
built from, public so that other clients' formats and assignments can be checked against it.
"""

from __future__ import annotations

from client.consumer.assignors import (
    Assignor,
    CooperativeStickyAssignor,
    RangeAssignor,
    RebalanceProtocol,
    RoundRobinAssignor,
)
from client.consumer.config import ConsumerConfig
from client.consumer.consumer import Consumer
from client.consumer.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    LogTruncationError,
    NoOffsetForPartitionError,
    RecordDecodeError,
)
from client.consumer.formats import Assignment, Subscription
from client.consumer.group import RebalanceListener
from client.consumer.records import ConsumerRecord
from client.consumer.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

__all__ = [
    "Assignment",
    "Assignor",
    "CommitFailedError",
    "Consumer",
    "ConsumerConfig",
    "ConsumerRecord",
    "ConsumerStoppedError",
    "CooperativeStickyAssignor",
    "LogTruncationError",
    "NoOffsetForPartitionError",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "RangeAssignor",
    "RebalanceListener",
    "RebalanceProtocol",
    "RecordDecodeError",
    "RoundRobinAssignor",
    "Subscription",
    "TopicPartition",
]
