"""Typed cluster metadata on top of a MetadataStore: the cluster id, topics, partition states.

Key layout (one key per object, so unrelated updates never conflict):

    cluster                     {"cluster_id": "..."}
    topics/<name>               TopicRecord
    partitions/<topic>/<index>  PartitionState

A topic exists when its `topics/` key exists; partition keys are written before it on
creation and deleted after it on deletion. Partition writes refuse a lower leader epoch than
the stored one, so epochs never go down; a recreated topic continues from the epochs left by
its previous incarnation if its partition keys survived.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from broker.metadata.store import JsonObject, MetadataError, MetadataStore

CLUSTER_KEY = "cluster"
TOPICS_PREFIX = "topics/"
PARTITIONS_PREFIX = "partitions/"


class LeaderEpochRegression(MetadataError):
    """A partition write would lower the leader epoch."""


def topic_key(name: str) -> str:
    """The store key of a topic."""
    return f"{TOPICS_PREFIX}{name}"


def partition_key(topic: str, partition: int) -> str:
    """The store key of one partition's state."""
    return f"{PARTITIONS_PREFIX}{topic}/{partition}"


@dataclass(frozen=True)
class TopicRecord:
    """A topic: name, id, partition count, topic-level config overrides."""

    name: str
    topic_id: uuid.UUID
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        """The stored form."""
        return {
            "name": self.name,
            "topic_id": str(self.topic_id),
            "partitions": self.partitions,
            "configs": dict(self.configs),
        }

    @classmethod
    def from_json(cls, doc: JsonObject) -> TopicRecord:
        """Read the stored form."""
        return cls(doc["name"], uuid.UUID(doc["topic_id"]), doc["partitions"], doc["configs"])


@dataclass(frozen=True)
class PartitionState:
    """Replicas, leader (-1 = none), leader epoch and in-sync replicas of one partition."""

    topic: str
    partition: int
    replicas: tuple[int, ...]
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]

    def to_json(self) -> JsonObject:
        """The stored form."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "replicas": list(self.replicas),
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "isr": list(self.isr),
        }

    @classmethod
    def from_json(cls, doc: JsonObject) -> PartitionState:
        """Read the stored form."""
        return cls(
            doc["topic"],
            doc["partition"],
            tuple(doc["replicas"]),
            doc["leader"],
            doc["leader_epoch"],
            tuple(doc["isr"]),
        )


def new_cluster_id() -> str:
    """A cluster id as Kafka writes them: a random UUID in URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


async def ensure_cluster_id(store: MetadataStore) -> str:
    """The cluster id, created on first use; stable across restarts."""
    while True:
        current = await store.get(CLUSTER_KEY)
        if current is not None:
            return str(current.value["cluster_id"])
        if await store.compare_and_set(CLUSTER_KEY, 0, {"cluster_id": new_cluster_id()}):
            continue


async def get_topic(store: MetadataStore, name: str) -> TopicRecord | None:
    """A topic by name, or None."""
    found = await store.get(topic_key(name))
    return None if found is None else TopicRecord.from_json(found.value)


async def list_topics(store: MetadataStore) -> dict[str, TopicRecord]:
    """Every topic by name."""
    entries, _ = await store.list(TOPICS_PREFIX)
    return {
        record.name: record
        for record in (TopicRecord.from_json(v.value) for v in entries.values())
    }


async def get_partition(
    store: MetadataStore, topic: str, partition: int
) -> tuple[PartitionState, int] | None:
    """A partition's state and the version to pass to `update_partition`, or None."""
    found = await store.get(partition_key(topic, partition))
    return None if found is None else (PartitionState.from_json(found.value), found.version)


async def list_partitions(
    store: MetadataStore, topic: str
) -> dict[int, tuple[PartitionState, int]]:
    """Every partition state of a topic with its version, by partition index."""
    entries, _ = await store.list(f"{PARTITIONS_PREFIX}{topic}/")
    states = (
        (PartitionState.from_json(v.value), v.version) for v in entries.values()
    )
    return {state.partition: (state, version) for state, version in states}


async def update_partition(
    store: MetadataStore, state: PartitionState, expected_version: int
) -> bool:
    """Compare-and-set a partition's state; False when someone else changed it first.

    Raises LeaderEpochRegression when the stored state (at `expected_version`) has a higher
    leader epoch than `state`.
    """
    key = partition_key(state.topic, state.partition)
    current = await store.get(key)
    if (current.version if current else 0) != expected_version:
        return False
    if current is not None and state.leader_epoch < current.value["leader_epoch"]:
        raise LeaderEpochRegression(
            f"{state.topic}-{state.partition}: leader epoch {state.leader_epoch} is below "
            f"the stored {current.value['leader_epoch']}"
        )
    return await store.compare_and_set(key, expected_version, state.to_json())


async def create_topic(
    store: MetadataStore,
    name: str,
    assignment: Sequence[Sequence[int]],
    configs: Mapping[str, str] | None = None,
) -> TopicRecord | None:
    """Create a topic whose partition i has replicas `assignment[i]`, first replica leading.

    Returns None when the topic already exists. Partitions left by an earlier topic of the
    same name start one epoch above where they were.
    """
    if await store.get(topic_key(name)) is not None:
        return None
    pending = dict(enumerate(assignment))
    while pending:
        # All partitions in one batch (one durable write for the local store); a partition
        # someone changed meanwhile is read again and retried.
        writes = []
        for index, replicas in pending.items():
            existing = await get_partition(store, name, index)
            version = existing[1] if existing else 0
            epoch = existing[0].leader_epoch + 1 if existing else 0
            leader = replicas[0] if replicas else -1
            state = PartitionState(name, index, tuple(replicas), leader, epoch, tuple(replicas))
            writes.append((partition_key(name, index), version, state.to_json()))
        outcomes = await store.compare_and_set_many(writes)
        pending = {
            index: replicas
            for (index, replicas), done in zip(pending.items(), outcomes)
            if not done
        }
    record = TopicRecord(name, uuid.uuid4(), len(assignment), dict(configs or {}))
    if not await store.compare_and_set(topic_key(name), 0, record.to_json()):
        return None
    return record


async def delete_topic(store: MetadataStore, name: str) -> bool:
    """Delete a topic (the topic key first, then its partitions); False when it did not exist."""
    found = await store.get(topic_key(name))
    if found is None or not await store.compare_and_set(topic_key(name), found.version, None):
        return False
    partitions = await list_partitions(store, name)
    await store.compare_and_set_many(
        [(partition_key(name, index), version, None) for index, (_, version) in partitions.items()]
    )
    return True
