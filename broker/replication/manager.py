"""The partitions this broker hosts, kept in step with the metadata store.

``ReplicaManager.apply_topic`` opens (or creates) the logs of a topic's partitions assigned to
this broker and hands each its leadership state; ``remove_topic`` deletes them.  The metadata
store is the source of truth: at start the broker applies every stored topic, and a watch
applies later changes (made by this broker's controller or, in a cluster, by another one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from broker.metadata.records import PartitionState, TopicRecord
from broker.metrics import LogMetrics
from broker.replication.durability import GroupCommit
from broker.replication.partition import Partition
from broker.storage.config import LogConfig
from broker.storage.manager import LogManager

log = logging.getLogger("rillet.replicas")


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

    def get(self, topic: str, index: int) -> Partition | None:
        """The hosted partition, or None."""
        return self.partitions.get((topic, index))

    def topic_config(self, record: TopicRecord) -> LogConfig:
        """The log config of a topic: broker defaults with the topic's overrides."""
        return self.topic_defaults.with_overrides(record.configs)

    def apply_topic(self, record: TopicRecord, states: Iterable[PartitionState]) -> None:
        """Host the partitions of ``record`` assigned to this broker, with their states."""
        config = self.topic_config(record)
        self.topics[record.name] = record
        self.logs.set_topic_config(record.name, config)
        for state in states:
            if self.node_id not in state.replicas:
                continue
            key = (record.name, state.partition)
            partition = self.partitions.get(key)
            if partition is None:
                log_ = self.logs.get_or_create_log(record.name, state.partition, config)
                partition = Partition(record.name, state.partition, log_, self.node_id, state)
                self.partitions[key] = partition
                if self.metrics is not None:
                    self.metrics.partition_opened(record.name, state.partition, log_.size)
            partition.become(state)

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
            partition.notify_data()
            self.logs.delete_log(*key)
            if self.metrics is not None:
                self.metrics.partition_closed(*key)
        log.info("deleted topic %s", name)

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
