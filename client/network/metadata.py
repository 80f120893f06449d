"""Cluster metadata snapshots: brokers, controller, topics and their partitions' leaders.

A :class:`ClusterMetadata` is immutable; every refresh builds a new one with
:func:`merge_metadata_response`, so a reader always sees one consistent view. A partition
whose new leader epoch is lower than the cached one keeps its cached entry: a broker that
lags behind must not move a client's view of a leader backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from client.protocol import ErrorCode

__all__ = ["BrokerInfo", "PartitionInfo", "TopicInfo", "ClusterMetadata", "merge_metadata_response"]


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    """A broker as Metadata describes it."""

    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition: its leader (-1 when none), leader epoch (-1 when unknown), replicas."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int = -1
    replicas: tuple[int, ...] = ()
    isr: tuple[int, ...] = ()
    offline_replicas: tuple[int, ...] = ()
    error_code: int = 0


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic and its partitions by index; ``error_code`` is the topic-level code."""

    name: str
    partitions: dict[int, PartitionInfo] = field(default_factory=dict)
    error_code: int = 0
    is_internal: bool = False
    topic_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class ClusterMetadata:
    """One consistent view of the cluster; ``updated_at`` is a ``trio.current_time()``."""

    brokers: dict[int, BrokerInfo] = field(default_factory=dict)
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    controller_id: int = -1
    cluster_id: str | None = None
    updated_at: float = float("-inf")
    # last error code the broker gave for requested topics that are unusable (e.g. unknown)
    topic_errors: dict[str, int] = field(default_factory=dict)

    def leader_for(self, topic: str, partition: int) -> int | None:
        """The leader's node id, or None when the topic, partition or leader is unknown."""
        info = self.topics.get(topic)
        if info is None:
            return None
        part = info.partitions.get(partition)
        if part is None or part.leader < 0:
            return None
        return part.leader

    def partitions_for(self, topic: str) -> list[int] | None:
        """Sorted partition indexes of ``topic``, or None when the topic is not known."""
        info = self.topics.get(topic)
        if info is None or not info.partitions:
            return None
        return sorted(info.partitions)

    def available_partitions_for(self, topic: str) -> list[int]:
        """Partitions of ``topic`` that have a leader right now."""
        info = self.topics.get(topic)
        if info is None:
            return []
        return sorted(p for p, part in info.partitions.items() if part.leader >= 0)


def _partition(topic: str, raw: dict) -> PartitionInfo:
    return PartitionInfo(
        topic=topic,
        partition=raw["partition_index"],
        leader=raw["leader_id"],
        leader_epoch=raw.get("leader_epoch", -1),
        replicas=tuple(raw["replica_nodes"]),
        isr=tuple(raw["isr_nodes"]),
        offline_replicas=tuple(raw.get("offline_replicas", ())),
        error_code=raw["error_code"],
    )


def _merge_topic(old: TopicInfo | None, raw: dict) -> TopicInfo:
    name = raw["name"]
    partitions: dict[int, PartitionInfo] = {}
    for raw_part in raw["partitions"]:
        new = _partition(name, raw_part)
        cached = old.partitions.get(new.partition) if old is not None else None
        if cached is not None and 0 <= new.leader_epoch < cached.leader_epoch:
            new = cached
        partitions[new.partition] = new
    return TopicInfo(
        name=name,
        partitions=partitions,
        error_code=raw["error_code"],
        is_internal=raw.get("is_internal", False),
        topic_id=raw.get("topic_id"),
    )


def merge_metadata_response(
    old: ClusterMetadata,
    response: dict,
    now: float,
    requested: Iterable[str] | None,
) -> ClusterMetadata:
    """The snapshot after a Metadata ``response`` for ``requested`` topics (None = all).

    Topics the broker reports as unknown are dropped from the view; a full (all-topics)
    response also drops topics it no longer lists. Topics neither requested nor returned
    keep their cached entries.
    """
    brokers = {
        b["node_id"]: BrokerInfo(b["node_id"], b["host"], b["port"], b.get("rack"))
        for b in response["brokers"]
    }
    topics = {} if requested is None else dict(old.topics)
    errors = {} if requested is None else dict(old.topic_errors)
    for raw in response["topics"]:
        name = raw["name"]
        if name is None:
            continue
        code = raw["error_code"]
        if code and code != ErrorCode.LEADER_NOT_AVAILABLE:
            errors[name] = code
        else:
            errors.pop(name, None)
        if code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
            topics.pop(name, None)
            continue
        topics[name] = _merge_topic(old.topics.get(name), raw)
    return ClusterMetadata(
        brokers=brokers,
        topics=topics,
        controller_id=response.get("controller_id", -1),
        cluster_id=response.get("cluster_id"),
        updated_at=now,
        topic_errors=errors,
    )
