"""The partitions this broker hosts, kept in step with the metadata store.

``ReplicaManager.apply_topic`` opens (or creates) the logs of a topic's partitions assigned to
this broker and hands each its leadership state; ``remove_topic`` deletes them.  The metadata
store is the source of truth: at start the broker applies every stored topic, and a watch
applies later changes (made by this broker's controller or, in a cluster, by another one).

With the local store the broker is alone: it leads whatever names it leader.  In a cluster
(``attach_cluster``) every state change makes the broker leader, follower or neither:

* it leads a partition whose state names it leader, written after this process registered
  (``registered``); an older such state is a previous life's leadership and is not led;
* it follows the named leader otherwise, through one fetcher per leader broker;
* as leader it writes ISR changes itself, compare-and-set on the state's version, and a
  timer looks for followers that fell out of sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import trio

from broker.metadata.membership import ClusterView
from broker.metadata.records import PartitionState, TopicRecord, update_partition
from broker.metadata.store import MetadataError, MetadataStore
from broker.metrics import LogMetrics, ReplicaHealth
from broker.replication.durability import GroupCommit
from broker.replication.fetcher import Connector, ReplicaFetchers, open_connection
from broker.replication.partition import Partition, now_ms
from broker.replication.settings import ReplicationSettings
from broker.storage.config import LogConfig
from broker.storage.log import Log
from broker.storage.manager import LogManager

log = logging.getLogger("rillet.replicas")

ISR_RETRY_S = 1.0


class ReplicaManager:
    """Partition objects by (topic, index), the log manager under them, and group commit."""

    def __init__(
        self,
        node_id: int,
        logs: LogManager,
        topic_defaults: LogConfig,
        metrics: LogMetrics | None = None,
    ) -> None:
        self.node_id = node_id
        self.logs = logs
        self.topic_defaults = topic_defaults
        self.metrics = metrics
        self.group_commit = GroupCommit()
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.topics: dict[str, TopicRecord] = {}
        self.leadership_listeners: list[Callable[[Partition, bool], None]] = []
        self.store: MetadataStore | None = None
        self.cluster: ClusterView | None = None
        self.settings = ReplicationSettings()
        self.fetchers: ReplicaFetchers | None = None
        self.registered_version: int | None = None
        self._nursery: trio.Nursery | None = None
        self._by_log: dict[Log, Partition] = {}

    @property
    def clustered(self) -> bool:
        """True once ``attach_cluster`` made this broker one replica among several."""
        return self.store is not None

    def get(self, topic: str, index: int) -> Partition | None:
        """The hosted partition, or None."""
        return self.partitions.get((topic, index))

    def topic_config(self, record: TopicRecord) -> LogConfig:
        """The log config of a topic: broker defaults with the topic's overrides."""
        return self.topic_defaults.with_overrides(record.configs)

    # ------------------------------------------------------------ cluster mode

    def attach_cluster(
        self,
        store: MetadataStore,
        cluster: ClusterView,
        nursery: trio.Nursery,
        settings: ReplicationSettings,
        connect: Connector = open_connection,
    ) -> None:
        """Replicate through ``store``: lead and follow as its partition states say.

        Called once, before any topic is applied; starts the fetchers' home and the ISR timer
        in ``nursery``.  ``connect`` opens connections to leaders (tests pass their own).
        """
        self.store = store
        self.cluster = cluster
        self.settings = settings
        self._nursery = nursery
        self.fetchers = ReplicaFetchers(
            self.node_id, cluster, self.group_commit, settings, nursery, connect
        )
        self.group_commit.listeners.append(self._on_flushed)
        nursery.start_soon(self._isr_timer)

    def registered(self, version: int) -> None:
        """This process registered at store ``version``: lead what was given to it since."""
        self.registered_version = version
        for partition in list(self.partitions.values()):
            self._transition(partition, partition.state, partition.version)

    async def stop_fetchers(self) -> None:
        """Stop every follower fetcher (at shutdown, before the logs close)."""
        if self.fetchers is not None:
            await self.fetchers.aclose()

    # ------------------------------------------------------------ applying the store

    def apply_topic(
        self,
        record: TopicRecord,
        states: Iterable[PartitionState],
        versions: Mapping[int, int] | None = None,
    ) -> None:
        """Host the partitions of ``record`` assigned to this broker, with their states.

        ``versions`` (partition index -> store version of its state) is needed in cluster mode.
        """
        config = self.topic_config(record)
        self.topics[record.name] = record
        self.logs.set_topic_config(record.name, config)
        for state in states:
            version = versions.get(state.partition, 0) if versions is not None else 0
            self._apply(record, state, version, config)

    def apply_partition(self, record: TopicRecord, state: PartitionState, version: int) -> None:
        """One partition's state changed (from the store's watch)."""
        self.topics.setdefault(record.name, record)
        self._apply(record, state, version, self.topic_config(record))

    def _apply(
        self, record: TopicRecord, state: PartitionState, version: int, config: LogConfig
    ) -> None:
        key = (record.name, state.partition)
        partition = self.partitions.get(key)
        if self.node_id not in state.replicas:
            if partition is not None and self.clustered:
                self._transition(partition, state, version)
            return
        if partition is None:
            log_ = self.logs.get_or_create_log(record.name, state.partition, config)
            partition = Partition(record.name, state.partition, log_, self.node_id, state)
            partition.leading = False
            self.partitions[key] = partition
            self._by_log[log_] = partition
            if self.clustered:
                partition.request_flush = self.group_commit.request
            if self.metrics is not None:
                self.metrics.partition_opened(record.name, state.partition, log_.size)
        elif self.clustered and version < partition.version:
            # An older state than the one applied (a listing raced the watch), or one without
            # a version, which says nothing about when it was written.
            return
        if self.clustered:
            self._transition(partition, state, version)
        else:
            partition.become(state)

    def _transition(self, partition: Partition, state: PartitionState, version: int) -> None:
        was_leading = partition.leading
        fresh = self.registered_version is not None and version > self.registered_version
        assigned = self.node_id in state.replicas
        if state.leader == self.node_id and fresh and assigned:
            if was_leading and partition.leader_state is not None and (
                partition.leader_epoch == state.leader_epoch
            ):
                partition.update_leader_state(state, version)
                return
            if self.fetchers is not None:
                self.fetchers.remove(partition)
            partition.become_leader(state, version, now_ms())
            log.info(
                "leading %s-%d in epoch %d, ISR %s",
                partition.topic, partition.index, state.leader_epoch, list(state.isr),
            )
            if not was_leading:
                self._notify(partition, True)
            return
        partition.become_follower(state, version)
        if was_leading:
            log.info("no longer leading %s-%d", partition.topic, partition.index)
            self._notify(partition, False)
        if self.fetchers is None:
            return
        if (
            assigned
            and self.registered_version is not None
            and state.leader not in (-1, self.node_id)
        ):
            self.fetchers.add(partition, state.leader, state.leader_epoch)
        else:
            self.fetchers.remove(partition)

    def _notify(self, partition: Partition, leading: bool) -> None:
        for listener in self.leadership_listeners:
            try:
                listener(partition, leading)
            except Exception:
                log.exception("leadership listener failed for %s-%d", partition.topic,
                              partition.index)

    def update_topic_config(self, record: TopicRecord) -> None:
        """Give the topic's logs its new config (after AlterConfigs)."""
        config = self.topic_config(record)
        self.topics[record.name] = record
        self.logs.set_topic_config(record.name, config)

    def remove_topic(self, name: str) -> None:
        """Stop hosting a deleted topic and delete its logs (renamed, removed later)."""
        self.topics.pop(name, None)
        for key in [key for key in self.partitions if key[0] == name]:
            partition = self.partitions.pop(key)
            self._by_log.pop(partition.log, None)
            if self.fetchers is not None:
                self.fetchers.remove(partition)
            was_leading = partition.leading
            partition.removed = True
            partition.leading = False
            partition.leader_state = None
            partition.wake_all()
            if was_leading and self.clustered:
                self._notify(partition, False)
            self.logs.delete_log(*key)
            if self.metrics is not None:
                self.metrics.partition_closed(*key)
        log.info("deleted topic %s", name)

    # ------------------------------------------------------------ ISR changes (leader)

    def follower_fetched(
        self,
        partition: Partition,
        replica: int,
        fetch_offset: int,
        durable_offset: int = -1,
        at_ms: float | None = None,
    ) -> None:
        """A follower's fetch reached the leader: its progress, and its return to the ISR."""
        proposed = partition.record_follower_fetch(replica, fetch_offset, durable_offset, at_ms)
        if proposed is not None:
            self._write_isr(partition, proposed)

    def check_isr(self) -> None:
        """Propose an ISR without the followers that fell behind, for every partition led."""
        at = now_ms()
        lag = self.settings.replica_lag_time_max_ms
        for partition in list(self.partitions.values()):
            state = partition.leader_state
            if state is None or not partition.leading:
                continue
            proposed = state.propose_shrink(at, lag)
            if proposed is not None:
                log.info(
                    "%s-%d: ISR %s -> %s (followers behind for %d ms)",
                    partition.topic, partition.index, list(state.isr), list(proposed), lag,
                )
                self._write_isr(partition, proposed)

    def _write_isr(self, partition: Partition, isr: tuple[int, ...]) -> None:
        if self._nursery is None or self.store is None:
            return
        self._nursery.start_soon(self._cas_isr, partition, isr, partition.version)

    async def _cas_isr(self, partition: Partition, isr: tuple[int, ...], version: int) -> None:
        assert self.store is not None
        state = partition.leader_state
        new = replace(partition.state, isr=isr)
        try:
            written = await update_partition(self.store, new, version)
        except MetadataError as exc:
            log.warning("%s-%d: ISR write failed: %s", partition.topic, partition.index, exc)
            written = False
        if written:
            return  # the watch delivers the new state, which commits the ISR
        # Someone else changed the state first: its delivery clears the pending change.  If
        # it has not come after a while, forget the proposal so that a later check retries.
        await trio.sleep(ISR_RETRY_S)
        if partition.leader_state is state and state is not None and partition.version == version:
            partition.isr_change_failed()

    async def _isr_timer(self) -> None:
        while True:
            await trio.sleep(self.settings.isr_check_interval_s)
            self.check_isr()

    def _on_flushed(self, logs: list[Log]) -> None:
        for log_ in logs:
            partition = self._by_log.get(log_)
            if partition is not None and partition.leading:
                partition.update_high_watermark()

    # ------------------------------------------------------------ sizes

    def health(self) -> list[ReplicaHealth]:
        """Leadership and in-sync replicas of every hosted partition, as a snapshot (it may
        be taken from another thread: one C-level copy of the table, then plain reads)."""
        return [
            ReplicaHealth(p.is_leader, len(p.state.replicas), len(p.state.isr),
                          p.min_insync_replicas)
            for p in list(self.partitions.values())
        ]

    def report_size(self, partition: Partition) -> None:
        """Publish a partition's size on disk after an append or a deletion changed it."""
        if self.metrics is not None:
            self.metrics.partition_size(partition.topic, partition.index, partition.log.size)

    def report_sizes(self) -> None:
        """Publish the size of every hosted partition (after retention deleted segments)."""
        for partition in self.partitions.values():
            self.report_size(partition)

    def orphaned_logs(self) -> list[tuple[str, int]]:
        """Logs on disk whose topic the metadata store does not know (deleted while down)."""
        return [tp for tp in self.logs.partitions() if tp not in self.partitions]
