"""Topic administration: validate requests, assign replicas, write the metadata store.

The controller decides; the replica manager hosts.  Every outcome a client can cause is a
``TopicError`` carrying the Kafka error code a client understands, with a message naming the
topic and the reason.  With one node every replica is this broker; assignment across several
brokers (and the controller lease) comes with the cluster backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from client.protocol import ErrorCode

from broker.metadata.records import (
    PartitionState,
    TopicRecord,
    create_topic,
    delete_topic,
    get_topic,
    list_partitions,
    topic_key,
    update_partition,
)
from broker.metadata.store import MetadataStore
from broker.storage.config import LogConfig

MAX_TOPIC_NAME = 249
_LEGAL_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


class TopicError(Exception):
    """A topic request that cannot be done, with the Kafka error code for the client."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def validate_topic_name(name: str) -> None:
    """Raise TopicError(INVALID_TOPIC_EXCEPTION) unless ``name`` is a legal Kafka topic name."""
    if not name or name in (".", ".."):
        raise TopicError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"topic name {name!r} is illegal")
    if len(name) > MAX_TOPIC_NAME:
        raise TopicError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"topic name is {len(name)} characters long, the limit is {MAX_TOPIC_NAME}",
        )
    if not _LEGAL_NAME.match(name):
        raise TopicError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"topic name {name!r} has characters other than ASCII letters, digits, '.', '_', '-'",
        )


def validate_configs(defaults: LogConfig, configs: Mapping[str, str | None]) -> dict[str, str]:
    """Topic config overrides, checked against the log config; TopicError(INVALID_CONFIG)."""
    known = defaults.to_properties()
    for key in configs:
        # checked here by exact name: the log config also takes "retention_ms" for
        # "retention.ms", which would store an override that describes never show
        if key not in known:
            raise TopicError(ErrorCode.INVALID_CONFIG, f"unknown topic config {key!r}")
    overrides = {key: value for key, value in configs.items() if value is not None}
    try:
        defaults.with_overrides(overrides)
    except ValueError as exc:
        raise TopicError(ErrorCode.INVALID_CONFIG, str(exc)) from None
    return overrides


@dataclass(frozen=True)
class NewTopic:
    """A topic to create, as a CreateTopics request or auto-creation describes it."""

    name: str
    num_partitions: int
    replication_factor: int
    assignments: Mapping[int, Sequence[int]]
    configs: Mapping[str, str | None]


class Controller:
    """Creates, deletes and grows topics in the metadata store for a set of live brokers."""

    def __init__(
        self,
        store: MetadataStore,
        node_id: int,
        topic_defaults: LogConfig,
        default_partitions: int,
        default_replication_factor: int,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.topic_defaults = topic_defaults
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor

    def live_brokers(self) -> list[int]:
        """Node ids that can hold replicas."""
        return [self.node_id]

    def plan(self, topic: NewTopic) -> tuple[list[list[int]], dict[str, str]]:
        """Check a topic to create; return its replica assignment and config overrides."""
        validate_topic_name(topic.name)
        overrides = validate_configs(self.topic_defaults, topic.configs)
        brokers = self.live_brokers()
        if topic.assignments:
            if topic.num_partitions != -1 or topic.replication_factor != -1:
                raise TopicError(
                    ErrorCode.INVALID_REQUEST,
                    "give either a replica assignment or partition and replication counts",
                )
            indexes = sorted(topic.assignments)
            if indexes != list(range(len(indexes))):
                raise TopicError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    "assigned partitions must be numbered 0..n-1 without gaps",
                )
            plan = [list(topic.assignments[i]) for i in indexes]
            for replicas in plan:
                if not replicas or len(set(replicas)) != len(replicas):
                    raise TopicError(
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        f"replica list {replicas} is empty or repeats a broker",
                    )
                unknown = set(replicas) - set(brokers)
                if unknown:
                    raise TopicError(
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        f"brokers {sorted(unknown)} are not in the cluster",
                    )
            return plan, overrides
        partitions = (
            self.default_partitions if topic.num_partitions == -1 else topic.num_partitions
        )
        factor = (
            self.default_replication_factor
            if topic.replication_factor == -1
            else topic.replication_factor
        )
        if partitions <= 0:
            raise TopicError(
                ErrorCode.INVALID_PARTITIONS, f"number of partitions must be > 0, got {partitions}"
            )
        if factor <= 0:
            raise TopicError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"replication factor must be > 0, got {factor}",
            )
        if factor > len(brokers):
            raise TopicError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"replication factor {factor} is larger than the {len(brokers)} available brokers",
            )
        return assign_replicas(brokers, partitions, factor), overrides

    async def create(
        self, topic: NewTopic, validate_only: bool = False
    ) -> tuple[TopicRecord | None, list[list[int]], dict[str, str]]:
        """Create ``topic`` (or only check it); TopicError on any problem.

        Returns the stored record (None when only validating), the assignment and overrides.
        """
        plan, overrides = self.plan(topic)
        if await get_topic(self.store, topic.name) is not None:
            raise TopicError(
                ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {topic.name!r} already exists"
            )
        if validate_only:
            return None, plan, overrides
        record = await create_topic(self.store, topic.name, plan, overrides)
        if record is None:
            raise TopicError(
                ErrorCode.TOPIC_ALREADY_EXISTS, f"topic {topic.name!r} already exists"
            )
        return record, plan, overrides

    async def delete(self, name: str) -> None:
        """Delete a topic; TopicError(UNKNOWN_TOPIC_OR_PARTITION) when there is none."""
        if not await delete_topic(self.store, name):
            raise TopicError(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist"
            )

    async def add_partitions(
        self,
        name: str,
        count: int,
        assignments: Sequence[Sequence[int]] | None,
        validate_only: bool = False,
    ) -> TopicRecord | None:
        """Grow a topic to ``count`` partitions; the new record (None when validating)."""
        current = await get_topic(self.store, name)
        if current is None:
            raise TopicError(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist"
            )
        if count <= current.partitions:
            raise TopicError(
                ErrorCode.INVALID_PARTITIONS,
                f"topic {name!r} has {current.partitions} partitions; "
                f"{count} would not add any",
            )
        brokers = self.live_brokers()
        states = await list_partitions(self.store, name)
        factor = len(states[0][0].replicas) if 0 in states else 1
        added = count - current.partitions
        if assignments is not None:
            if len(assignments) != added:
                raise TopicError(
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"{len(assignments)} assignments given for {added} new partitions",
                )
            plan = [list(replicas) for replicas in assignments]
            for replicas in plan:
                if len(replicas) != factor or set(replicas) - set(brokers):
                    raise TopicError(
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        f"replica list {replicas} does not fit replication factor {factor} "
                        f"on brokers {brokers}",
                    )
        else:
            plan = assign_replicas(brokers, count, factor)[current.partitions :]
        if validate_only:
            return None
        for offset, replicas in enumerate(plan):
            index = current.partitions + offset
            existing = states.get(index)
            epoch = existing[0].leader_epoch + 1 if existing else 0
            state = PartitionState(
                name, index, tuple(replicas), replicas[0], epoch, tuple(replicas)
            )
            await update_partition(self.store, state, existing[1] if existing else 0)
        return await self._rewrite_topic(current, partitions=count)

    async def alter_configs(
        self, name: str, configs: Mapping[str, str], validate_only: bool = False
    ) -> TopicRecord:
        """Replace a topic's config overrides (checked first)."""
        current = await get_topic(self.store, name)
        if current is None:
            raise TopicError(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {name!r} does not exist"
            )
        overrides = validate_configs(self.topic_defaults, configs)
        if validate_only:
            return current
        return await self._rewrite_topic(current, configs=overrides)

    async def _rewrite_topic(
        self,
        current: TopicRecord,
        *,
        partitions: int | None = None,
        configs: Mapping[str, str] | None = None,
    ) -> TopicRecord:
        key = topic_key(current.name)
        while True:
            stored = await self.store.get(key)
            if stored is None:
                raise TopicError(
                    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic {current.name!r} was deleted"
                )
            base = TopicRecord.from_json(stored.value)
            record = TopicRecord(
                base.name,
                base.topic_id,
                base.partitions if partitions is None else partitions,
                dict(base.configs if configs is None else configs),
            )
            if await self.store.compare_and_set(key, stored.version, record.to_json()):
                return record


def assign_replicas(brokers: Sequence[int], partitions: int, factor: int) -> list[list[int]]:
    """Round-robin replica placement: partition i leads on broker i mod n, followers after it."""
    ordered = sorted(brokers)
    n = len(ordered)
    return [[ordered[(i + r) % n] for r in range(factor)] for i in range(partitions)]
