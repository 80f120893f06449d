"""The SDK's connection layer: sockets, version negotiation, metadata, routing, retries.

What the producer, consumer and admin client build on::

    from client.network import Cluster

    async with Cluster("localhost:9092", client_id="app") as cluster:
        node = await cluster.leader_for("events", 0)              # refreshes metadata if needed
        body = await cluster.request(node, ApiKey.LIST_OFFSETS, {...})   # negotiated version
        group_node = await cluster.coordinator_for("my-group")    # FindCoordinator, cached
        cluster.metadata.topics["events"].partitions[0].leader_epoch

* :class:`Cluster` — bootstrap, one connection per broker, metadata cache
  (:meth:`~Cluster.refresh_metadata`, :meth:`~Cluster.request_update` after errors whose
  ``invalid_metadata`` flag is set), :meth:`~Cluster.leader_for`,
  :meth:`~Cluster.partitions_for`, :meth:`~Cluster.coordinator_for` /
  :meth:`~Cluster.invalidate_coordinator`, :meth:`~Cluster.controller`,
  :meth:`~Cluster.request` (one node) and :meth:`~Cluster.request_any` (any node).
* :class:`BrokerConnection` — one pipelined connection; used through the cluster.
* :class:`Backoff` and :func:`retry_until` — exponential backoff with full jitter and a
  deadline-bounded retry loop for retriable :class:`client.errors.KafkaError`\\ s.
* :class:`TaskGroup` — background tasks owned by a client object.
* :class:`ClusterMetadata`, :class:`TopicInfo`, :class:`PartitionInfo`, :class:`BrokerInfo` —
  immutable metadata snapshots.

Response bodies are returned as decoded; their error codes are the caller's to check
(``client.errors.raise_for_code``). Connection-level failures raise
``KafkaConnectionError`` / ``KafkaTimeoutError`` (both retriable).
"""

from __future__ import annotations

from client.network.backoff import Backoff, retry_until
from client.network.cluster import Cluster, parse_bootstrap_servers
from client.network.connection import BrokerConnection
from client.network.metadata import BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo
from client.network.tasks import TaskGroup
from client.network.versions import negotiate

__all__ = [
    "Backoff",
    "BrokerConnection",
    "BrokerInfo",
    "Cluster",
    "ClusterMetadata",
    "PartitionInfo",
    "TaskGroup",
    "TopicInfo",
    "negotiate",
    "parse_bootstrap_servers",
    "retry_until",
]
