"""Cluster metadata: the MetadataStore interface, its backends, and typed records on top."""

from __future__ import annotations

from broker.config import BrokerConfig, ConfigError
from broker.metadata.local import LocalMetadataStore
from broker.metadata.records import (
    LeaderEpochRegression,
    PartitionState,
    TopicRecord,
    create_topic,
    delete_topic,
    ensure_cluster_id,
    get_partition,
    get_topic,
    list_partitions,
    list_topics,
    update_partition,
)
from broker.metadata.store import (
    Change,
    MetadataError,
    MetadataStore,
    Versioned,
    Watch,
    WatchLagged,
)


async def open_store(config: BrokerConfig) -> MetadataStore:
    """Open the backend named by `metadata.store`."""
    if config.metadata_store == "local":
        return await LocalMetadataStore.open(config.metadata_dir)
    raise ConfigError(
        f"metadata.store: the etcd backend is not available yet ({config.metadata_store})"
    )


__all__ = [
    "Change",
    "LeaderEpochRegression",
    "LocalMetadataStore",
    "MetadataError",
    "MetadataStore",
    "PartitionState",
    "TopicRecord",
    "Versioned",
    "Watch",
    "WatchLagged",
    "create_topic",
    "delete_topic",
    "ensure_cluster_id",
    "get_partition",
    "get_topic",
    "list_partitions",
    "list_topics",
    "open_store",
    "update_partition",
]
