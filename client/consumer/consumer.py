"""The SDK consumer: subscribe or assign, poll records, commit, seek — on trio.

::

    async with Consumer("orders", bootstrap_servers="localhost:9092", group_id="billing",
                        auto_offset_reset="earliest") as consumer:
        async for record in consumer:
            handle(record.topic, record.partition, record.offset, record.value)

Options carry kafka-python / aiokafka names (``client.consumer.config``). Background tasks
(fetching, group membership, heartbeats, auto-commit) run in the nursery given to
:meth:`Consumer.start`, or in tasks the consumer owns when none is given; :meth:`close`
ends them. Every public coroutine may be called from any task; listener callbacks run on the
consumer's own task, while the application holds no records from :meth:`poll`.

Delivery is at-least-once with auto-commit: offsets are committed periodically as of the
previous :meth:`poll` call (records returned by the latest poll are not yet "processed"),
before partitions are revoked, and on close.

Without ``group_id``, ``subscribe`` takes every partition of the subscribed topics (as
kafka-python and aiokafka do) and nothing is committed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import trio

from client.consumer.config import ConsumerConfig, consumer_config
from client.consumer.errors import ConsumerStoppedError
from client.consumer.fetcher import Fetcher
from client.consumer.group import GroupMembership, PollGate, call_listener
from client.consumer.records import ConsumerRecord
from client.consumer.structs import (
    OffsetAndMetadata,
    OffsetAndTimestamp,
    TopicPartition,
    as_topic_partition,
)
from client.consumer.offsets import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP
from client.consumer.subscription import SubscriptionMode, SubscriptionState
from client.consumer.wakeup import Signal
from client.errors import IllegalStateError, KafkaError, KafkaTimeoutError
from client.network import Cluster, TaskGroup

__all__ = ["Consumer"]

log = logging.getLogger(__name__)

PartitionLike = TopicPartition | tuple[str, int]


class Consumer:
    """A Kafka consumer (see the module docstring).

    ``Consumer(*topics, nursery=None, **options)``: topics given here are subscribed at
    once; background tasks run in ``nursery`` when one is given. Important
    options: ``bootstrap_servers``, ``group_id``, ``auto_offset_reset`` ("latest",
    "earliest" or "none"), ``enable_auto_commit``, ``partition_assignment_strategy``
    (names, e.g. ``("range", "roundrobin")`` or ``("cooperative-sticky",)``),
    ``max_poll_records``, ``fetch_max_wait_ms``, ``isolation_level``, deserializers.
    ``fetch_buffer_bytes`` bounds how much fetched data waits in memory. Record CRCs are
    always verified (in C), whatever ``check_crcs`` says.
    """

    def __init__(
        self, *topics: str, nursery: trio.Nursery | None = None, **options: Any
    ) -> None:
        self.config: ConsumerConfig = consumer_config(**options)
        self._nursery = nursery
        self._subs = SubscriptionState(
            self.config.auto_offset_reset, uses_group=self.config.group_id is not None
        )
        self._gate = PollGate()
        self._wakeup = Signal()
        self._changed = Signal()
        self._cluster: Cluster | None = None
        self._coordinator_cluster: Cluster | None = None
        self._tasks: TaskGroup | None = None
        self._fetcher: Fetcher | None = None
        self._membership: GroupMembership | None = None
        self._auto_committed: dict[TopicPartition, OffsetAndMetadata] = {}
        self._listener_errors: list[Exception] = []
        self._iter_batch: list[ConsumerRecord] = []
        self._iter_index = 0
        self._started = False
        self._closed = False
        if topics:
            self.subscribe(topics)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, nursery: trio.Nursery | None = None) -> None:
        """Connect (bootstrap, versions, metadata) and start the background tasks, in
        ``nursery`` (or the one given to the constructor) when given, else in tasks the
        consumer owns. Raises the connection error when no broker answers within
        request_timeout_ms."""
        nursery = nursery if nursery is not None else self._nursery
        if self._closed:
            raise ConsumerStoppedError("the consumer is closed")
        if self._started:
            return
        cfg = self.config
        network = dict(
            client_id=cfg.client_id,
            request_timeout_ms=cfg.request_timeout_ms,
            connect_timeout_ms=cfg.socket_connection_setup_timeout_ms,
            retry_backoff_ms=cfg.retry_backoff_ms,
            retry_backoff_max_ms=cfg.retry_backoff_max_ms,
            metadata_max_age_ms=cfg.metadata_max_age_ms,
            max_in_flight_requests_per_connection=cfg.max_in_flight_requests_per_connection,
            allow_auto_topic_creation=cfg.allow_auto_create_topics,
            nursery=nursery,
        )
        self._tasks = TaskGroup(nursery)
        self._cluster = Cluster(cfg.bootstrap_servers, **network)
        try:
            await self._cluster.start()
        except BaseException:
            await self._cluster.aclose()
            raise
        if cfg.group_id is not None:
            # Group requests get connections of their own (see GroupMembership).
            self._coordinator_cluster = Cluster(cfg.bootstrap_servers, **network)
            self._membership = GroupMembership(
                self._cluster, self._coordinator_cluster, self._subs, cfg, self._gate,
                self._assignment_changed,
            )
            self._membership.callbacks_done = self._wakeup
        self._fetcher = Fetcher(
            self._cluster, self._subs, cfg, self._tasks,
            self._membership.fetch_committed if self._membership is not None else None,
        )
        self._fetcher.data_ready = self._wakeup
        self._started = True
        self._tasks.start_soon(self._fetcher.run, name="consumer-fetcher")
        if self._membership is not None:
            self._tasks.start_soon(self._membership.run, name="consumer-group")
            self._tasks.start_soon(self._membership.heartbeat_loop, name="consumer-heartbeat")
            if cfg.enable_auto_commit:
                self._tasks.start_soon(self._auto_commit_loop, name="consumer-auto-commit")
        else:
            self._tasks.start_soon(self._standalone_assignment_loop, name="consumer-assign")

    async def close(self, autocommit: bool = True) -> None:
        """Commit (with auto-commit, unless ``autocommit`` is False), revoke the assignment
        through the listener, leave the group, and stop. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        self._gate.open_for_good()
        assert self._fetcher is not None
        self._fetcher.stop()
        commit = autocommit and self.config.enable_auto_commit
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self.config.request_timeout_ms / 1000):
                try:
                    if self._membership is not None:
                        if self._subs.group_managed:
                            await self._membership.leave(commit=commit)
                        elif commit:
                            await self._membership.commit_quietly(self._subs.consumed_offsets())
                except KafkaError as exc:
                    log.warning("closing the consumer: %s", exc)
            assert self._tasks is not None and self._cluster is not None
            await self._tasks.aclose()
            if self._coordinator_cluster is not None:
                await self._coordinator_cluster.aclose()
            await self._cluster.aclose()
        self._wakeup.fire()

    async def __aenter__(self) -> Consumer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _running(self) -> Fetcher:
        if self._closed:
            raise ConsumerStoppedError("the consumer is closed")
        if not self._started or self._fetcher is None:
            raise ConsumerStoppedError(
                "the consumer is not started: use `async with Consumer(...)` or "
                "`await consumer.start()`"
            )
        return self._fetcher

    def _group(self, what: str) -> GroupMembership:
        self._running()
        if self._membership is None:
            raise IllegalStateError(f"{what} needs a group_id")
        return self._membership

    def _assignment_changed(self) -> None:
        if self._fetcher is not None:
            self._fetcher.wake()
        self._wakeup.fire()

    # ------------------------------------------------------------------ subscription

    def subscribe(
        self,
        topics: Iterable[str] = (),
        pattern: str | re.Pattern[str] | None = None,
        listener: object | None = None,
    ) -> None:
        """Subscribe to ``topics`` (replacing the previous subscription) or to every topic
        matching ``pattern``; the group assigns the partitions. ``listener`` gets
        ``on_partitions_revoked`` / ``on_partitions_assigned`` / ``on_partitions_lost``
        (see ``client.consumer.RebalanceListener``)."""
        if isinstance(topics, str):
            topics = [topics]
        if pattern is not None:
            if list(topics):
                raise ValueError("give topics or a pattern, not both")
            self._subs.subscribe_pattern(pattern, listener)
        else:
            topics = list(topics)
            if not topics:
                raise ValueError("subscribe() needs topics or a pattern")
            self._subs.subscribe(topics, listener)
        self._poke()

    async def unsubscribe(self) -> None:
        """Give up every partition (revoking through the listener, committing with
        auto-commit), leave the group, and drop the subscription."""
        if self._membership is not None and self._subs.group_managed and self._started:
            await self._membership.unsubscribed(commit=self.config.enable_auto_commit)
        elif self._subs.group_managed:
            await call_listener(self._subs.listener, "on_partitions_revoked",
                                set(self._subs.assigned()))
        self._subs.unsubscribe()
        self._poke()

    def assign(self, partitions: Iterable[PartitionLike]) -> None:
        """Consume exactly ``partitions`` (``(topic, partition)`` pairs), without a group
        assignment. Positions come from committed offsets (with a group_id) or
        auto_offset_reset."""
        if self._subs.group_managed:
            raise IllegalStateError("assign() after subscribe(): call unsubscribe() first")
        self._subs.assign([as_topic_partition(p) for p in partitions])
        self._poke()

    def assignment(self) -> set[TopicPartition]:
        """The partitions currently assigned to this consumer."""
        return set(self._subs.assigned())

    def subscription(self) -> set[str]:
        """The subscribed topics (for a pattern: those it matched so far)."""
        return set(self._subs.topics)

    def _poke(self) -> None:
        self._changed.fire()
        if self._membership is not None:
            self._membership.changed.fire()
        if self._fetcher is not None:
            self._fetcher.wake()

    async def _standalone_assignment_loop(self) -> None:
        """Without a group: hold every partition of the subscribed topics."""
        assert self._cluster is not None
        while True:
            subs = self._subs
            if subs.group_managed:
                try:
                    if subs.mode == SubscriptionMode.PATTERN:
                        metadata = await self._cluster.refresh_metadata(all_topics=True)
                        subs.match_pattern(metadata.topics, self.config.exclude_internal_topics)
                    elif any(t not in self._cluster.metadata.topics for t in subs.topics) or (
                        self._cluster.metadata_is_stale()
                    ):
                        await self._cluster.refresh_metadata(subs.topics)
                except KafkaError as exc:
                    log.info("consumer metadata refresh failed: %s", exc)
                await self._take_all_partitions()
            await self._changed.wait(self.config.heartbeat_interval_ms / 1000)

    async def _take_all_partitions(self) -> None:
        assert self._cluster is not None
        topics = self._cluster.metadata.topics
        wanted = [
            TopicPartition(t, p)
            for t in sorted(self._subs.topics)
            if t in topics
            for p in sorted(topics[t].partitions)
        ]
        owned = set(self._subs.assigned())
        if set(wanted) == owned:
            return
        revoked = owned - set(wanted)
        errors = self._listener_errors
        if revoked:
            await self._gate.wait_open()
            await call_listener(self._subs.listener, "on_partitions_revoked", revoked, errors)
        self._subs.set_assignment(wanted)
        self._assignment_changed()
        await call_listener(
            self._subs.listener, "on_partitions_assigned", set(wanted) - owned, errors
        )

    # ------------------------------------------------------------------ records

    async def poll(
        self, timeout_ms: float = 0, max_records: int | None = None
    ) -> list[ConsumerRecord]:
        """Records fetched for the assigned partitions, up to ``max_records``
        (default max_poll_records), waiting up to ``timeout_ms`` for some to arrive.

        Calling poll also tells the consumer that the records of the previous call are done
        with: auto-commit may now commit past them, and pending rebalance callbacks run
        before new records are returned. Raises errors the application must act on
        (e.g. NoOffsetForPartitionError, RecordDecodeError, authorization errors).
        """
        fetcher = self._running()
        limit = max_records if max_records is not None else self.config.max_poll_records
        if limit <= 0:
            raise ValueError(f"max_records must be positive, not {limit}")
        deadline = trio.current_time() + max(timeout_ms, 0) / 1000
        self._gate.poll_entered()
        self._subs.mark_processed()
        membership = self._membership
        while True:
            if membership is not None and membership.fatal is not None:
                raise membership.fatal
            errors = membership.listener_errors if membership is not None else (
                self._listener_errors
            )
            if errors:
                raise errors.pop(0)
            if membership is None or not membership.callbacks_pending:
                fetcher.raise_errors()
                records = fetcher.drain(limit)
                if records:
                    self._gate.records_returned()
                    return records
            remaining = deadline - trio.current_time()
            if remaining <= 0 or self._closed:
                return []
            await self._wakeup.wait(remaining)

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> ConsumerRecord:
        """The next record; ends after consumer_timeout_ms without records, or on close."""
        if self._iter_index < len(self._iter_batch):
            record = self._iter_batch[self._iter_index]
            self._iter_index += 1
            return record
        idle_limit = self.config.consumer_timeout_ms / 1000
        idle_since = trio.current_time()
        while True:
            if self._closed:
                raise StopAsyncIteration
            remaining = idle_limit - (trio.current_time() - idle_since)
            if remaining <= 0:
                raise StopAsyncIteration
            batch = await self.poll(timeout_ms=min(remaining, 1.0) * 1000)
            if batch:
                self._iter_batch = batch
                self._iter_index = 1
                return batch[0]

    # ------------------------------------------------------------------ offsets

    async def commit(
        self, offsets: Mapping[PartitionLike, int | OffsetAndMetadata] | None = None
    ) -> None:
        """Commit ``offsets`` (the next offset to consume per partition), or the positions
        of every assigned partition. Raises CommitFailedError when the group rebalanced
        meanwhile."""
        membership = self._group("commit()")
        if offsets is None:
            chosen = self._subs.consumed_offsets()
        else:
            chosen = {}
            for tp, value in offsets.items():
                key = as_topic_partition(tp)
                if isinstance(value, OffsetAndMetadata):
                    chosen[key] = value
                else:
                    state = self._subs.get(key)
                    epoch = state.position_epoch if state and state.position == value else -1
                    chosen[key] = OffsetAndMetadata(int(value), "", epoch)
        await membership.commit(chosen)

    async def committed(
        self, partition: PartitionLike, metadata: bool = False
    ) -> int | OffsetAndMetadata | None:
        """The committed offset of ``partition`` in the group (None when none); with
        ``metadata`` the whole OffsetAndMetadata."""
        tp = as_topic_partition(partition)
        found = (await self._group("committed()").fetch_committed([tp])).get(tp)
        if found is None or metadata:
            return found
        return found.offset

    def seek(self, partition: PartitionLike, offset: int) -> None:
        """Make ``offset`` the next offset returned for an assigned partition."""
        fetcher = self._running()
        self._subs.seek(as_topic_partition(partition), offset)
        fetcher.wake()

    def _targets(self, partitions: tuple[PartitionLike, ...]) -> list[TopicPartition]:
        if not partitions:
            return self._subs.assigned()
        targets = [as_topic_partition(p) for p in partitions]
        for tp in targets:
            self._subs.state(tp)  # raises for a partition that is not assigned
        return targets

    def seek_to_beginning(self, *partitions: PartitionLike) -> None:
        """Start the given partitions (all assigned ones by default) at their earliest
        offset; the offset is looked up in the background."""
        fetcher = self._running()
        self._subs.request_reset(self._targets(partitions), "earliest")
        fetcher.wake()

    def seek_to_end(self, *partitions: PartitionLike) -> None:
        """Start the given partitions (all assigned ones by default) at their end."""
        fetcher = self._running()
        self._subs.request_reset(self._targets(partitions), "latest")
        fetcher.wake()

    async def position(self, partition: PartitionLike, timeout_ms: float | None = None) -> int:
        """The next offset that will be returned for ``partition``, waiting for it to be
        looked up when needed. Raises KafkaTimeoutError after ``timeout_ms`` (default
        request_timeout_ms)."""
        fetcher = self._running()
        tp = as_topic_partition(partition)
        limit = (self.config.request_timeout_ms if timeout_ms is None else timeout_ms) / 1000
        deadline = trio.current_time() + limit
        while True:
            state = self._subs.state(tp)
            if state.position is not None:
                return state.position
            fetcher.raise_errors()
            if self._membership is not None and self._membership.fatal is not None:
                raise self._membership.fatal
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                raise KafkaTimeoutError(f"position of {tp.topic}-{tp.partition} not known in time")
            await fetcher.changed.wait(min(remaining, 0.05))

    def highwater(self, partition: PartitionLike) -> int | None:
        """The high watermark of an assigned partition as of the last fetch (None before)."""
        state = self._subs.state(as_topic_partition(partition))
        return state.high_watermark if state.high_watermark >= 0 else None

    async def offsets_for_times(
        self, timestamps: Mapping[PartitionLike, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """For each partition, the earliest offset whose timestamp is at or after the given
        one (ms since the epoch); None where no such record exists."""
        fetcher = self._running()
        wanted = {as_topic_partition(tp): int(ts) for tp, ts in timestamps.items()}
        for tp, ts in wanted.items():
            if ts < 0:
                raise ValueError(f"timestamp for {tp.topic}-{tp.partition} must be >= 0")
        found = await fetcher.list_offsets(wanted, self.config.request_timeout_ms / 1000)
        return {
            tp: (
                OffsetAndTimestamp(found[tp].offset, found[tp].timestamp, found[tp].leader_epoch)
                if found[tp].offset >= 0 else None
            )
            for tp in wanted
        }

    async def beginning_offsets(
        self, partitions: Iterable[PartitionLike]
    ) -> dict[TopicPartition, int]:
        """The earliest offset of each partition."""
        return await self._list(partitions, EARLIEST_TIMESTAMP)

    async def end_offsets(self, partitions: Iterable[PartitionLike]) -> dict[TopicPartition, int]:
        """The offset after the last record of each partition (the high watermark; the last
        stable offset under read_committed)."""
        return await self._list(partitions, LATEST_TIMESTAMP)

    async def _list(
        self, partitions: Iterable[PartitionLike], timestamp: int
    ) -> dict[TopicPartition, int]:
        fetcher = self._running()
        wanted = {as_topic_partition(tp): timestamp for tp in partitions}
        found = await fetcher.list_offsets(wanted, self.config.request_timeout_ms / 1000)
        return {tp: found[tp].offset for tp in wanted}

    # ------------------------------------------------------------------ flow control

    def pause(self, *partitions: PartitionLike) -> None:
        """Stop returning and fetching these partitions until :meth:`resume`."""
        fetcher = self._running()
        self._subs.pause([as_topic_partition(p) for p in partitions])
        fetcher.wake()

    def resume(self, *partitions: PartitionLike) -> None:
        """Fetch paused partitions again."""
        fetcher = self._running()
        self._subs.resume([as_topic_partition(p) for p in partitions])
        fetcher.wake()

    def paused(self) -> set[TopicPartition]:
        """The paused partitions."""
        return self._subs.paused()

    # ------------------------------------------------------------------ cluster

    async def topics(self) -> set[str]:
        """Every topic in the cluster (internal ones excluded with exclude_internal_topics)."""
        self._running()
        assert self._cluster is not None
        metadata = await self._cluster.refresh_metadata(all_topics=True)
        return {
            name for name, info in metadata.topics.items()
            if not (self.config.exclude_internal_topics and info.is_internal)
        }

    async def partitions_for_topic(self, topic: str) -> set[int]:
        """The partition numbers of ``topic``."""
        self._running()
        assert self._cluster is not None
        return set(await self._cluster.partitions_for(topic))

    # ------------------------------------------------------------------ auto-commit

    async def _auto_commit_loop(self) -> None:
        assert self._membership is not None
        membership = self._membership
        while True:
            await trio.sleep(self.config.auto_commit_interval_ms / 1000)
            if self._subs.group_managed and not membership.stable:
                continue
            offsets = {
                tp: o for tp, o in self._subs.processed_offsets().items()
                if self._auto_committed.get(tp) != o
            }
            if offsets and await membership.commit_quietly(offsets):
                self._auto_committed.update(offsets)

    # ------------------------------------------------------------------ introspection

    @property
    def member_id(self) -> str | None:
        """This consumer's member id in its group (None without a group)."""
        return self._membership.member_id if self._membership is not None else None

    @property
    def generation_id(self) -> int | None:
        """The group generation this consumer's assignment belongs to."""
        return self._membership.generation_id if self._membership is not None else None
