"""Topic administration: validate requests, assign replicas, write the metadata store.

The controller decides; the replica manager hosts.  Every outcome a client can cause is a
``TopicError`` carrying the Kafka error code a client understands, with a message naming the
topic and the reason.  Replicas are placed on the serving brokers of the ``ClusterView`` (just
this one without a cluster store), leaders spread round-robin.

``ControllerDuties`` is what the broker holding the controller lease does while it holds it:
it follows every partition state and broker registration and writes what
``broker.metadata.election.reconcile`` asks for — a new leader when a leader's broker is gone,
restarted or shutting down, dead brokers out of ISRs, and, every
``leader.imbalance.check.interval.seconds``, leadership back to preferred replicas.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import trio

from client.protocol import ErrorCode

from broker.metadata.election import reconcile
from broker.metadata.membership import BROKERS_PREFIX, BrokerInfo, ClusterView
from broker.metadata.records import (
    PARTITIONS_PREFIX,
    TOPICS_PREFIX,
    PartitionState,
    TopicRecord,
    create_topic,
    delete_topic,
    get_topic,
    list_partitions,
    topic_key,
    update_partition,
)
from broker.metadata.store import Change, MetadataError, MetadataStore
from broker.storage.config import LogConfig

log = logging.getLogger("rillet.controller")

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
        cluster: ClusterView | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.topic_defaults = topic_defaults
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor
        self.cluster = cluster

    def live_brokers(self) -> list[int]:
        """Node ids that can hold replicas: the serving brokers of the cluster."""
        if self.cluster is None or self.cluster.solo:
            return [self.node_id]
        return self.cluster.serving()

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
        return assign_replicas(brokers, partitions, factor, start=_spread_start(topic.name)), overrides

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
            plan = assign_replicas(brokers, count, factor, start=_spread_start(name))[
                current.partitions :
            ]
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


def assign_replicas(
    brokers: Sequence[int], partitions: int, factor: int, start: int = 0
) -> list[list[int]]:
    """Round-robin placement: partition i leads on broker (start + i) mod n, followers after.

    Each broker leads partitions/n of a topic (give or take one) and holds as many follower
    replicas; ``start`` spreads the first leaders of different topics.
    """
    ordered = sorted(brokers)
    n = len(ordered)
    return [[ordered[(start + i + r) % n] for r in range(factor)] for i in range(partitions)]


def _spread_start(name: str) -> int:
    """A stable per-topic start for placement, so one-partition topics do not all lead on
    the same broker."""
    return sum(name.encode())


class ControllerDuties:
    """The active controller's loop (see module docstring); run while holding the lease."""

    def __init__(
        self,
        store: MetadataStore,
        topic_defaults: Callable[[], LogConfig],
        *,
        preferred_interval_s: float = 300.0,
        auto_leader_rebalance: bool = True,
    ) -> None:
        self.store = store
        self.topic_defaults = topic_defaults
        self.preferred_interval_s = preferred_interval_s
        self.auto_leader_rebalance = auto_leader_rebalance
        self.brokers: dict[int, BrokerInfo] = {}
        self.topics: dict[str, TopicRecord] = {}
        self.states: dict[tuple[str, int], tuple[PartitionState, int]] = {}
        self.writes = 0
        self._dirty = trio.Event()

    def _unclean(self, topic: str) -> bool:
        record = self.topics.get(topic)
        overrides = record.configs if record is not None else {}
        try:
            return self.topic_defaults().with_overrides(overrides).unclean_leader_election_enable
        except ValueError:
            return False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Reconcile until cancelled (the lease is lost or the broker stops)."""
        started = False
        while True:
            try:
                async with self.store.watch("") as changes:
                    revision = await self._load()
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._follow, changes, revision)
                        if self.auto_leader_rebalance:
                            nursery.start_soon(self._preferred_timer)
                        if not started:
                            started = True
                            task_status.started()
                        await self._reconcile_forever()
            except* MetadataError as group:
                # WatchLagged included: list again, the state is rebuilt from scratch
                log.warning("controller: %s; starting over", group.exceptions[0])
            await trio.sleep(0.2)

    async def _load(self) -> int:
        brokers, r1 = await self.store.list(BROKERS_PREFIX)
        topics, r2 = await self.store.list(TOPICS_PREFIX)
        partitions, r3 = await self.store.list(PARTITIONS_PREFIX)
        self.brokers = {}
        for entry in brokers.values():
            info = BrokerInfo.from_json(entry.value, entry.version)
            self.brokers[info.node_id] = info
        self.topics = {
            r.name: r for r in (TopicRecord.from_json(v.value) for v in topics.values())
        }
        self.states = {}
        for entry in partitions.values():
            state = PartitionState.from_json(entry.value)
            self.states[(state.topic, state.partition)] = (state, entry.version)
        self._dirty.set()
        return min(r1, r2, r3)

    async def _follow(self, changes: object, revision: int) -> None:
        async for change in changes:  # type: ignore[attr-defined]
            if change.version > revision:
                self._apply(change)
        raise MetadataError("the controller's watch ended")

    def _apply(self, change: Change) -> None:
        key = change.key
        if key.startswith(BROKERS_PREFIX):
            node_id = int(key[len(BROKERS_PREFIX):])
            if change.value is None:
                self.brokers.pop(node_id, None)
            else:
                self.brokers[node_id] = BrokerInfo.from_json(change.value, change.version)
        elif key.startswith(TOPICS_PREFIX):
            name = key[len(TOPICS_PREFIX):]
            if change.value is None:
                self.topics.pop(name, None)
            else:
                self.topics[name] = TopicRecord.from_json(change.value)
        elif key.startswith(PARTITIONS_PREFIX):
            topic, _, index = key[len(PARTITIONS_PREFIX):].rpartition("/")
            if change.value is None:
                self.states.pop((topic, int(index)), None)
            else:
                current = self.states.get((topic, int(index)))
                if current is None or current[1] < change.version:
                    self.states[(topic, int(index))] = (
                        PartitionState.from_json(change.value), change.version
                    )
        else:
            return
        self._dirty.set()

    async def _reconcile_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty = trio.Event()
            await self.reconcile_all(preferred=False)

    async def _preferred_timer(self) -> None:
        while True:
            await trio.sleep(self.preferred_interval_s)
            await self.reconcile_all(preferred=True)

    async def reconcile_all(self, *, preferred: bool) -> int:
        """Write every partition state the rules change; how many were written."""
        written = 0
        for key, (state, version) in sorted(self.states.items()):
            if state.topic not in self.topics:
                continue  # being created or deleted
            new = reconcile(
                state,
                version,
                self.brokers,
                unclean=self._unclean(state.topic),
                preferred=preferred,
            )
            if new is None:
                continue
            if await update_partition(self.store, new, version):
                written += 1
                self.writes += 1
                log.info(
                    "%s-%d: leader %d -> %d, epoch %d -> %d, isr %s -> %s",
                    state.topic, state.partition, state.leader, new.leader,
                    state.leader_epoch, new.leader_epoch, list(state.isr), list(new.isr),
                )
        return written
