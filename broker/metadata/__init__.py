"""Cluster metadata: the MetadataStore interface, its backends, and typed records on top."""

from __future__ import annotations

from broker.config import BrokerConfig, ConfigError
from broker.metadata.etcd import EtcdMetadataStore, parse_etcd_url
from broker.metadata.leases import (
    LeaseExpired,
    Leases,
    LocalLeases,
    campaign,
    held_lease,
    open_leases,
)
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
    """Open the backend named by `metadata.store`: `local`, or `etcd://host:port[,...]/prefix`.

    Raises ConfigError, naming the key, for a malformed etcd address and for an etcd that
    cannot be reached at startup (most often a wrong address), so the broker stops with one
    line instead of a traceback.
    """
    if config.metadata_store == "local":
        return await LocalMetadataStore.open(config.metadata_dir)
    try:
        endpoints, prefix = parse_etcd_url(config.metadata_store)
        return await EtcdMetadataStore.connect(endpoints, prefix)
    except MetadataError as exc:
        raise ConfigError(f"metadata.store: {exc}") from None


__all__ = [
    "Change",
    "EtcdMetadataStore",
    "LeaderEpochRegression",
    "LeaseExpired",
    "Leases",
    "LocalLeases",
    "LocalMetadataStore",
    "MetadataError",
    "MetadataStore",
    "PartitionState",
    "TopicRecord",
    "Versioned",
    "Watch",
    "WatchLagged",
    "campaign",
    "create_topic",
    "delete_topic",
    "ensure_cluster_id",
    "get_partition",
    "get_topic",
    "held_lease",
    "list_partitions",
    "list_topics",
    "open_leases",
    "open_store",
    "update_partition",
]
